//! What a model's output layer predicts: the task.
//!
//! | task           | output layer                  | loss                  |
//! |----------------|-------------------------------|-----------------------|
//! | classification | C logits → softmax            | cross-entropy         |
//! | binary         | 1 logit z → p = σ(z)          | BCE with logits       |
//! | regression     | linear, one per target        | mean squared error    |
//! | language       | V logits per position → next token | cross-entropy    |

/// What a model is trained to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Task {
    /// One of C classes: softmax over C logits, cross-entropy.
    #[default]
    Classification,
    /// One of two classes: one sigmoid output, binary cross-entropy.
    Binary,
    /// Real values: linear outputs, mean squared error.
    Regression,
    /// The next token at every position of a sequence: V logits per
    /// position, cross-entropy; judged by perplexity and bits per token.
    Language,
}

impl Task {
    /// Parses a config name ("classification", "binary", "regression").
    pub fn parse(name: &str) -> Option<Task> {
        match name {
            "classification" => Some(Task::Classification),
            "binary" => Some(Task::Binary),
            "regression" => Some(Task::Regression),
            "language" => Some(Task::Language),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Binary => "binary",
            Task::Regression => "regression",
            Task::Language => "language",
        }
    }

    /// The task recorded in a run's run.json ("" in runs from before tasks: classification).
    pub fn from_meta(name: &str) -> Task {
        Task::parse(name).unwrap_or_default()
    }

    /// Whether the model predicts classes of samples (not values, not tokens).
    pub fn is_classifier(self) -> bool {
        matches!(self, Task::Classification | Task::Binary)
    }
}
