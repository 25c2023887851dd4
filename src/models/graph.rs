//! A model's structure as a graph of blocks, for block diagrams (`nerve
//! draw`): one node per layer or block with its output shape and parameter
//! count, and the edges between them — the data flow, residual connections
//! (x + f(x)) and recurrences (a state carried from one time step to the
//! next).
//!
//! [`super::Model::graph`] gives a chain of the summary's rows by default;
//! an architecture with skips or state overrides it, so any new
//! architecture gets a diagram without touching the drawing code.

use super::builder::LayerInfo;

/// What an edge carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The output of one node is the input of the next.
    Data,
    /// A skip connection added to a later node's output: y = x + f(x).
    Residual,
    /// A state fed back into the same node at the next time step.
    Recurrent,
}

/// One box of the diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    /// The operation, e.g. "Linear", "Conv2d", "LSTM", "Input".
    pub op: String,
    /// Its settings, e.g. "in_features=784, out_features=128, bias=True".
    pub detail: String,
    /// The parameter-tree name ("0", "rnn", "h.3.attn"), empty for the input.
    pub name: String,
    /// Output shape of one sample (without the batch dimension).
    pub output_shape: Vec<usize>,
    /// Trainable values.
    pub params: usize,
}

/// A connection between two nodes (by index).
#[derive(Clone, Debug, PartialEq)]
pub struct GraphEdge {
    /// The source node's index.
    pub from: usize,
    /// The target node's index.
    pub to: usize,
    /// What it carries.
    pub kind: EdgeKind,
    /// Shown beside the edge (e.g. "h, c" for an LSTM's state).
    pub label: String,
}

/// The whole graph; node 0 is the input.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelGraph {
    /// The boxes; node 0 is the input.
    pub nodes: Vec<GraphNode>,
    /// The connections between them.
    pub edges: Vec<GraphEdge>,
}

/// Splits "Linear(in_features=4, out_features=3, bias=True)" into the
/// operation and its settings.
pub fn split_description(d: &str) -> (String, String) {
    match d.find('(') {
        Some(i) if d.ends_with(')') => (d[..i].to_string(), d[i + 1..d.len() - 1].to_string()),
        _ => (d.to_string(), String::new()),
    }
}

impl ModelGraph {
    /// An input node of this shape.
    pub fn new(input_shape: &[usize], input_label: &str) -> ModelGraph {
        ModelGraph {
            nodes: vec![GraphNode {
                op: "Input".into(),
                detail: input_label.into(),
                name: String::new(),
                output_shape: input_shape.to_vec(),
                params: 0,
            }],
            edges: Vec::new(),
        }
    }

    /// The summary's rows in a row: input → row 0 → row 1 → …
    pub fn chain(input_shape: &[usize], rows: &[LayerInfo]) -> ModelGraph {
        let mut g = ModelGraph::new(input_shape, "");
        for r in rows {
            g.push_layer(r, &r.index.to_string());
        }
        g
    }

    /// Adds a node after the last one, joined to it by a data edge; returns its index.
    pub fn push(&mut self, node: GraphNode) -> usize {
        let i = self.nodes.len();
        self.nodes.push(node);
        if i > 0 {
            self.edges.push(GraphEdge {
                from: i - 1,
                to: i,
                kind: EdgeKind::Data,
                label: String::new(),
            });
        }
        i
    }

    /// Adds a summary row as the next node.
    pub fn push_layer(&mut self, row: &LayerInfo, name: &str) -> usize {
        let (op, detail) = split_description(&row.description);
        self.push(GraphNode {
            op,
            detail,
            name: name.into(),
            output_shape: row.output_shape.clone(),
            params: row.params,
        })
    }

    /// A skip connection: `from`'s output is added to `to`'s.
    pub fn add_residual(&mut self, from: usize, to: usize) {
        self.edges.push(GraphEdge {
            from,
            to,
            kind: EdgeKind::Residual,
            label: "+".into(),
        });
    }

    /// A state that `node` feeds back to itself at the next time step.
    pub fn add_recurrence(&mut self, node: usize, label: &str) {
        self.edges.push(GraphEdge {
            from: node,
            to: node,
            kind: EdgeKind::Recurrent,
            label: label.into(),
        });
    }

    /// A recurrent model from its summary rows: an embedding, the recurrent
    /// layers (their state fed back at every time step, drawn as a loop),
    /// then the head; `names` are the rows' parameter-tree names.
    pub fn recurrent(
        input_shape: &[usize],
        input_label: &str,
        rows: &[LayerInfo],
        names: &[&str],
    ) -> ModelGraph {
        let mut g = ModelGraph::new(input_shape, input_label);
        for (i, row) in rows.iter().enumerate() {
            let name = names.get(i).copied().unwrap_or("");
            let node = g.push_layer(row, name);
            let op = &g.nodes[node].op;
            if matches!(op.as_str(), "LSTM" | "GRU" | "RNN") {
                let state = if op == "LSTM" {
                    "h, c → step t+1"
                } else {
                    "h → step t+1"
                };
                g.add_recurrence(node, state);
            }
        }
        g
    }

    /// Total trainable values.
    pub fn params(&self) -> usize {
        self.nodes.iter().map(|n| n.params).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_split_into_op_and_settings() {
        assert_eq!(
            split_description("Linear(in_features=4, out_features=3, bias=True)"),
            (
                "Linear".into(),
                "in_features=4, out_features=3, bias=True".into()
            )
        );
        assert_eq!(split_description("ReLU()"), ("ReLU".into(), "".into()));
        assert_eq!(split_description("CharRNN"), ("CharRNN".into(), "".into()));
    }

    #[test]
    fn a_chain_joins_each_row_to_the_next() {
        let row = |i, d: &str, p| LayerInfo {
            index: i,
            description: d.into(),
            output_shape: vec![3],
            params: p,
        };
        let g = ModelGraph::chain(&[4], &[row(0, "Linear(a)", 15), row(1, "ReLU()", 0)]);
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.edges.len(), 2);
        assert_eq!((g.edges[1].from, g.edges[1].to), (1, 2));
        assert_eq!(g.params(), 15);
        assert_eq!(g.nodes[1].name, "0");
    }
}
