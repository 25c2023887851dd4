//! Generating text: sampling the next token from a model's logits, one token
//! at a time, with the model's state (a recurrent state, a KV cache) carried
//! from step to step so nothing is recomputed.
//!
//! p_i = softmax(z / T)_i over the tokens left after
//! - top-k: only the k largest logits,
//! - top-p (nucleus): the fewest most likely tokens whose probabilities add
//!   up to at least p;
//!
//! T = 0 is greedy decoding (the largest logit, ties to the lowest id). The
//! same seed draws the same tokens.
//!
//! Every generating model (the char-RNN, the GPT, the pretrained LLM) is a
//! [`LanguageModel`] that opens a [`Decoder`]; [`generate`] runs the loop.

// `!(x > 0.0)` is deliberate: it rejects NaN, which `x <= 0.0` lets through.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::error::{Error, Result};
use crate::tensor::Generator;

/// How the next token is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingOptions {
    /// Softmax temperature T ≥ 0; 0 is greedy.
    pub temperature: f32,
    /// Keep only the k most likely tokens (k ≥ 1).
    pub top_k: Option<usize>,
    /// Keep the fewest most likely tokens whose probability reaches p, in (0, 1].
    pub top_p: Option<f32>,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            seed: 0,
        }
    }
}

impl SamplingOptions {
    /// Checks the ranges; messages name the command-line option.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::new(format!(
                "--temperature must be 0 (greedy) or positive, found {}",
                self.temperature
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::new(
                "--top-k must be at least 1 (1 is greedy; leave it out to keep every token), found 0",
            ));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::new(format!(
                    "--top-p must be in (0, 1] (1 keeps every token), found {p}"
                )));
            }
        }
        Ok(())
    }
}

/// Draws tokens from logits.
pub struct Sampler {
    opts: SamplingOptions,
    rng: Generator,
    /// Scratch: (probability, id) of the candidates.
    cand: Vec<(f32, u32)>,
}

impl Sampler {
    /// A sampler; errors if the options are out of range.
    pub fn new(opts: SamplingOptions) -> Result<Sampler> {
        opts.validate()?;
        Ok(Sampler {
            opts,
            rng: Generator::new(opts.seed),
            cand: Vec::new(),
        })
    }

    /// The options.
    pub fn options(&self) -> &SamplingOptions {
        &self.opts
    }

    /// The next token id for these logits (one per token of the vocabulary).
    ///
    /// Panics if `logits` is empty.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        assert!(!logits.is_empty(), "Sampler::sample: no logits");
        let greedy = self.opts.temperature == 0.0 || self.opts.top_k == Some(1);
        if greedy {
            return argmax(logits) as u32;
        }
        let t = self.opts.temperature;
        self.cand.clear();
        self.cand
            .extend(logits.iter().enumerate().map(|(i, &z)| (z / t, i as u32)));
        // Most likely first; ties by id so the order is deterministic.
        let by_logit = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if let Some(k) = self.opts.top_k {
            if k < self.cand.len() {
                self.cand.select_nth_unstable_by(k - 1, by_logit);
                self.cand.truncate(k);
            }
        }
        self.cand.sort_unstable_by(by_logit);
        // Softmax over the candidates (the largest first, so no overflow).
        let max = self.cand[0].0;
        let mut sum = 0.0f64;
        for c in self.cand.iter_mut() {
            c.0 = (c.0 - max).exp();
            sum += c.0 as f64;
        }
        if let Some(p) = self.opts.top_p {
            let mut acc = 0.0f64;
            let mut keep = self.cand.len();
            for (i, c) in self.cand.iter().enumerate() {
                acc += c.0 as f64 / sum;
                if acc >= p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            self.cand.truncate(keep);
            sum = self.cand.iter().map(|c| c.0 as f64).sum();
        }
        let u = self.rng.uniform(0.0, 1.0) as f64 * sum;
        let mut acc = 0.0f64;
        for c in &self.cand {
            acc += c.0 as f64;
            if u < acc {
                return c.1;
            }
        }
        self.cand.last().expect("at least one candidate").1
    }
}

/// The index of the largest value (the first of equal ones).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// A model's running state while it generates: feed it tokens, read the
/// logits of the next one.
pub trait Decoder {
    /// Feeds `tokens` (the prompt, then each new token) and returns the
    /// logits of the token after the last one. The state carries over: only
    /// the new tokens are computed.
    fn feed(&mut self, tokens: &[u32]) -> Vec<f32>;

    /// Tokens seen so far that the model still attends to.
    fn position(&self) -> usize;
}

/// A model that generates tokens.
pub trait LanguageModel {
    /// Number of token ids.
    fn vocab_size(&self) -> usize;

    /// The context window, if the model has one (a GPT's block_size); past
    /// it the decoder slides.
    fn context_window(&self) -> Option<usize> {
        None
    }

    /// A fresh decoder (empty state).
    fn decoder(&self) -> Box<dyn Decoder + '_>;

    /// A fresh decoder whose context window, once full, slides forward by
    /// `slide` tokens at a time (1: by every token). A model without a
    /// window ignores it.
    fn decoder_sliding(&self, slide: usize) -> Box<dyn Decoder + '_> {
        let _ = slide;
        self.decoder()
    }

    /// A transformer's attention weights over `ids` (at most the context
    /// window): the number of heads and, per layer, `[heads, T, T]`.
    /// None for a model without attention.
    fn attention_maps(&self, ids: &[u32]) -> Option<(usize, Vec<Vec<f32>>)> {
        let _ = ids;
        None
    }
}

/// Generates up to `max_new` tokens after `prompt`. `on_token` sees each
/// new token as it is made (to stream it) and may return false to stop.
/// Returns the new tokens.
pub fn generate(
    model: &dyn LanguageModel,
    prompt: &[u32],
    max_new: usize,
    sampler: &mut Sampler,
    on_token: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    generate_with(model.decoder(), prompt, max_new, sampler, on_token)
}

/// [`generate`] with a given decoder (e.g. [`LanguageModel::decoder_sliding`]).
pub fn generate_with(
    mut dec: Box<dyn Decoder + '_>,
    prompt: &[u32],
    max_new: usize,
    sampler: &mut Sampler,
    on_token: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    generate_from(&mut *dec, prompt, max_new, sampler, on_token)
}

/// [`generate`] on a decoder that already holds a state (a conversation's
/// earlier turns): feeds `prompt` after what it has seen, then samples.
/// The last new token is not fed (the next call's prompt follows it).
pub fn generate_from(
    dec: &mut dyn Decoder,
    prompt: &[u32],
    max_new: usize,
    sampler: &mut Sampler,
    mut on_token: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    let mut out = Vec::with_capacity(max_new);
    if max_new == 0 {
        return out;
    }
    let mut logits = dec.feed(prompt);
    for i in 0..max_new {
        let t = sampler.sample(&logits);
        out.push(t);
        if !on_token(t) || i + 1 == max_new {
            break;
        }
        logits = dec.feed(&[t]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(t: f32, k: Option<usize>, p: Option<f32>) -> SamplingOptions {
        SamplingOptions {
            temperature: t,
            top_k: k,
            top_p: p,
            seed: 7,
        }
    }

    #[test]
    fn greedy_takes_the_largest_logit() {
        let mut s = Sampler::new(opts(0.0, None, None)).unwrap();
        assert_eq!(s.sample(&[0.1, 3.0, 2.9, 3.0]), 1);
        let mut s = Sampler::new(opts(1.0, Some(1), None)).unwrap();
        assert_eq!(s.sample(&[0.1, 3.0, 4.0]), 2);
    }

    #[test]
    fn top_k_and_top_p_never_draw_the_cut_tokens() {
        let logits = [2.0, 1.0, 0.0, -1.0, 5.0];
        let mut s = Sampler::new(opts(1.0, Some(2), None)).unwrap();
        for _ in 0..500 {
            let t = s.sample(&logits);
            assert!(t == 4 || t == 0, "{t}");
        }
        // p(4) = e^5 / Σ ≈ 0.94: top-p 0.9 keeps token 4 alone.
        let mut s = Sampler::new(opts(1.0, None, Some(0.9))).unwrap();
        assert!((0..200).all(|_| s.sample(&logits) == 4));
    }

    #[test]
    fn draws_follow_the_softmax_and_repeat_with_the_seed() {
        let logits = [0.0f32, (2.0f32).ln()]; // p = 1/3, 2/3
        let mut s = Sampler::new(opts(1.0, None, None)).unwrap();
        let draws: Vec<u32> = (0..6000).map(|_| s.sample(&logits)).collect();
        let ones = draws.iter().filter(|&&t| t == 1).count() as f32 / 6000.0;
        assert!((ones - 2.0 / 3.0).abs() < 0.03, "{ones}");
        let mut again = Sampler::new(opts(1.0, None, None)).unwrap();
        let repeat: Vec<u32> = (0..6000).map(|_| again.sample(&logits)).collect();
        assert_eq!(draws, repeat);
        // A high temperature flattens the distribution.
        let mut hot = Sampler::new(opts(100.0, None, None)).unwrap();
        let ones = (0..6000).filter(|_| hot.sample(&logits) == 1).count() as f32 / 6000.0;
        assert!((ones - 0.5).abs() < 0.03, "{ones}");
    }

    #[test]
    fn bad_options_are_refused() {
        for (o, want) in [
            (opts(-0.5, None, None), "--temperature"),
            (opts(f32::NAN, None, None), "--temperature"),
            (opts(1.0, Some(0), None), "--top-k"),
            (opts(1.0, None, Some(0.0)), "--top-p"),
            (opts(1.0, None, Some(1.5)), "--top-p"),
        ] {
            let e = Sampler::new(o).err().expect("refused");
            assert!(e.message().contains(want), "{e}");
        }
    }
}
