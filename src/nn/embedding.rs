//! Embedding: a lookup table of vectors, one row per token id.
//!
//! y[..., :] = W[id, :],  W: [num_embeddings, embedding_dim]
//!
//! The backward pass adds each output row's gradient into the row of its id
//! (a scatter-add): no one-hot matrix is ever made. With `padding_idx` that
//! row starts at zero and gets no gradient (PyTorch's semantics). Default
//! initialisation N(0, 1), as PyTorch's.

use super::Module;
use crate::tensor::Tensor;

/// PyTorch's `nn.Embedding`.
pub struct Embedding {
    /// The table W, `[num_embeddings, embedding_dim]`.
    pub weight: Tensor,
    padding_idx: Option<usize>,
}

impl Embedding {
    /// `nn.Embedding(num_embeddings, embedding_dim)`.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Embedding {
        Embedding::with_padding(num_embeddings, embedding_dim, None)
    }

    /// `nn.Embedding(num, dim, padding_idx=...)`.
    pub fn with_padding(
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<usize>,
    ) -> Embedding {
        let w = Tensor::randn(&[num_embeddings, embedding_dim], 0.0, 1.0);
        if let Some(p) = padding_idx {
            assert!(
                p < num_embeddings,
                "Embedding: padding_idx {p} must be below num_embeddings {num_embeddings}"
            );
            w.data_mut()[p * embedding_dim..(p + 1) * embedding_dim].fill(0.0);
        }
        Embedding {
            weight: w.requires_grad_(true),
            padding_idx,
        }
    }

    /// A table from given weights `[num, dim]`.
    pub fn from_weights(weight: Tensor, padding_idx: Option<usize>) -> Embedding {
        assert_eq!(weight.ndim(), 2, "Embedding: weight must be [num, dim]");
        Embedding {
            weight: weight.requires_grad_(true),
            padding_idx,
        }
    }

    /// Number of rows (token ids).
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Length of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The vectors of `ids`, shaped `[..shape, dim]` (`shape` holds `ids.len()`
    /// values). Panics if an id is out of range.
    pub fn forward(&self, ids: &[u32], shape: &[usize]) -> Tensor {
        embedding(&self.weight, ids, shape, self.padding_idx)
    }
}

/// `F.embedding`: rows of `weight` for `ids`, with a scatter-add backward.
pub fn embedding(
    weight: &Tensor,
    ids: &[u32],
    shape: &[usize],
    padding_idx: Option<usize>,
) -> Tensor {
    let (num, dim) = (weight.shape()[0], weight.shape()[1]);
    assert_eq!(
        ids.len(),
        shape.iter().product::<usize>(),
        "embedding: {} ids do not fill shape {shape:?}",
        ids.len()
    );
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= num) {
        panic!("embedding: id {bad} is out of range for {num} embeddings");
    }
    let mut out = vec![0.0f32; ids.len() * dim];
    {
        let w = weight.data();
        for (row, &id) in out.chunks_exact_mut(dim.max(1)).zip(ids) {
            let id = id as usize;
            row.copy_from_slice(&w[id * dim..(id + 1) * dim]);
        }
    }
    let mut out_shape = shape.to_vec();
    out_shape.push(dim);
    let ids = ids.to_vec();
    Tensor::from_op(out, out_shape, "embedding", &[weight], move |g| {
        let gd = g.data();
        let mut gw = vec![0.0f32; num * dim];
        for (row, &id) in gd.chunks_exact(dim.max(1)).zip(&ids) {
            let id = id as usize;
            if Some(id) == padding_idx {
                continue;
            }
            gw[id * dim..(id + 1) * dim]
                .iter_mut()
                .zip(row)
                .for_each(|(a, b)| *a += b);
        }
        vec![Some(Tensor::from_vec(gw, &[num, dim]))]
    })
}

impl Module for Embedding {
    /// Ids given as a float tensor (each value a whole number), as PyTorch
    /// takes a LongTensor: the output has one more dimension, `dim`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let ids: Vec<u32> = x.data().iter().map(|&v| v as u32).collect();
        embedding(&self.weight, &ids, x.shape(), self.padding_idx)
    }
    fn describe(&self) -> String {
        match self.padding_idx {
            Some(p) => format!(
                "Embedding({}, {}, padding_idx={p})",
                self.num_embeddings(),
                self.embedding_dim()
            ),
            None => format!(
                "Embedding({}, {})",
                self.num_embeddings(),
                self.embedding_dim()
            ),
        }
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone())]
    }
}
