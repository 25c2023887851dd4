//! `Tensor`: a cheap handle to f32 data with a shape, row-major and contiguous.
//!
//! Its values are one contiguous run of a shared storage, from an offset: a
//! `reshape`, a `detach` or a `narrow` of whole leading rows is a view that
//! shares the storage (writes through one show in the others, as in
//! PyTorch); other ops copy.
//!
//! Cloning a tensor clones the handle, not the data. Ops return new tensors and,
//! when an input requires grad and grad mode is on, record themselves in the
//! autograd graph (see `crate::autograd`).

mod create;
mod elementwise;
mod index;
mod mask;
mod matmul;
mod quantized;
mod random;
mod reduce;
mod shape;
mod shape_ops;
mod softmax;

pub use elementwise::sigmoid;
pub use quantized::QuantTensor;
pub use random::{manual_seed, with_rng, Generator};
pub use shape::{broadcast_shapes, numel};

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{
    MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

use crate::autograd::Node;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The values behind one or more tensors (views and detached handles share it).
pub(crate) struct Storage {
    values: RwLock<Vec<f32>>,
    /// Counts write accesses, so a copy derived from the values (a layer's
    /// transposed weight) can tell whether it is still current.
    version: AtomicU64,
}

impl Storage {
    pub(crate) fn new(values: Vec<f32>) -> Arc<Storage> {
        Arc::new(Storage {
            values: RwLock::new(values),
            version: AtomicU64::new(0),
        })
    }
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) shape: Vec<usize>,
    /// The storage, possibly shared with other tensors (views, detached copies).
    pub(crate) data: Arc<Storage>,
    /// Where this tensor's values start in `data`; they run for `numel` values.
    pub(crate) offset: usize,
    pub(crate) requires_grad: AtomicBool,
    pub(crate) grad: Mutex<Option<Tensor>>,
    pub(crate) node: Option<Node>,
}

/// An n-dimensional array of f32 that can take part in automatic differentiation.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) inner: Arc<Inner>,
}

impl Tensor {
    /// A tensor from values in row-major order and a shape.
    ///
    /// Panics if `data.len()` is not the product of `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Tensor {
        assert_eq!(
            data.len(),
            numel(shape),
            "Tensor::from_vec: {} values do not fill shape {:?} ({} values)",
            data.len(),
            shape,
            numel(shape)
        );
        Tensor::from_parts(Storage::new(data), shape.to_vec(), None)
    }

    pub(crate) fn from_parts(data: Arc<Storage>, shape: Vec<usize>, node: Option<Node>) -> Tensor {
        Tensor::from_storage(data, 0, shape, node)
    }

    /// A tensor over `numel(shape)` values of `data` starting at `offset`.
    pub(crate) fn from_storage(
        data: Arc<Storage>,
        offset: usize,
        shape: Vec<usize>,
        node: Option<Node>,
    ) -> Tensor {
        debug_assert!(offset + numel(&shape) <= data.values.read().len());
        let requires_grad = node.is_some();
        Tensor {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                shape,
                data,
                offset,
                requires_grad: AtomicBool::new(requires_grad),
                grad: Mutex::new(None),
                node,
            }),
        }
    }

    /// The result of an op: `data` with `shape`, recorded in the graph with
    /// `backward` if grad mode is on and any input requires grad.
    pub(crate) fn from_op(
        data: Vec<f32>,
        shape: Vec<usize>,
        name: &'static str,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    ) -> Tensor {
        debug_assert_eq!(data.len(), numel(&shape));
        let node = Node::record(name, inputs, backward);
        Tensor::from_parts(Storage::new(data), shape, node)
    }

    /// A 0-dimensional tensor holding one value.
    pub fn scalar(v: f32) -> Tensor {
        Tensor::from_vec(vec![v], &[])
    }

    /// The shape, e.g. `[batch, features]`.
    pub fn shape(&self) -> &[usize] {
        &self.inner.shape
    }

    /// PyTorch's `size()`.
    pub fn size(&self) -> Vec<usize> {
        self.inner.shape.clone()
    }

    /// Length of dimension `dim` (negative counts from the end).
    pub fn dim_size(&self, dim: isize) -> usize {
        self.inner.shape[self.axis(dim)]
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.inner.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.inner.shape)
    }

    /// A unique id for this tensor handle's node in the graph.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Read access to the values, row-major.
    pub fn data(&self) -> MappedRwLockReadGuard<'_, [f32]> {
        let range = self.storage_range();
        RwLockReadGuard::map(self.inner.data.values.read(), |v| &v[range])
    }

    /// Write access to the values, row-major. Used by optimizers to update
    /// parameters in place; it bypasses autograd. A view (see
    /// [`Tensor::narrow`]) writes into the storage it shares.
    pub fn data_mut(&self) -> MappedRwLockWriteGuard<'_, [f32]> {
        let range = self.storage_range();
        let guard = self.inner.data.values.write();
        // Bumped while the write lock is held, so a reader that holds the read
        // lock sees a version that matches the values it reads.
        self.inner.data.version.fetch_add(1, Ordering::Release);
        RwLockWriteGuard::map(guard, |v| &mut v[range])
    }

    /// Calls `f` with the values and the storage's write count at the time
    /// they were read (see [`Tensor::same_values_as`]).
    pub(crate) fn with_data_version<R>(&self, f: impl FnOnce(&[f32], u64) -> R) -> R {
        let guard = self.data();
        f(&guard, self.inner.data.version.load(Ordering::Acquire))
    }

    /// Whether this tensor still shows the values that `other` showed at
    /// storage write count `version`: same storage, offset and shape, and no
    /// write access since.
    pub(crate) fn same_values_as(&self, other: &Tensor, version: u64) -> bool {
        Arc::ptr_eq(&self.inner.data, &other.inner.data)
            && self.inner.offset == other.inner.offset
            && self.shape() == other.shape()
            && self.inner.data.version.load(Ordering::Acquire) == version
    }

    fn storage_range(&self) -> std::ops::Range<usize> {
        self.inner.offset..self.inner.offset + self.numel()
    }

    /// A tensor over the same values (same storage and offset) with another
    /// shape of the same size, recorded in the graph as `node`.
    pub(crate) fn share(&self, shape: Vec<usize>, node: Option<Node>) -> Tensor {
        debug_assert_eq!(numel(&shape), self.numel());
        Tensor::from_storage(self.inner.data.clone(), self.inner.offset, shape, node)
    }

    /// Whether this tensor's values are all of its storage (not a view into a
    /// larger buffer).
    pub(crate) fn owns_storage(&self) -> bool {
        self.inner.offset == 0 && self.inner.data.values.read().len() == self.numel()
    }

    /// A copy of the values, row-major.
    pub fn to_vec(&self) -> Vec<f32> {
        self.data().to_vec()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> f32 {
        assert_eq!(
            self.numel(),
            1,
            "item: tensor of shape {:?} has {} elements, expected 1",
            self.shape(),
            self.numel()
        );
        self.data()[0]
    }

    /// Whether gradients are computed for this tensor.
    pub fn requires_grad(&self) -> bool {
        self.inner.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf tensor as requiring (or not) a gradient, in place; returns self.
    pub fn requires_grad_(self, on: bool) -> Tensor {
        assert!(
            self.inner.node.is_none() || on,
            "requires_grad_(false) on a non-leaf tensor: use detach()"
        );
        self.inner.requires_grad.store(on, Ordering::Relaxed);
        self
    }

    /// Whether this tensor was created by the user (not by a recorded op).
    pub fn is_leaf(&self) -> bool {
        self.inner.node.is_none()
    }

    /// The accumulated gradient, if `backward` has reached this leaf.
    pub fn grad(&self) -> Option<Tensor> {
        self.inner.grad.lock().clone()
    }

    /// Replaces the gradient (or clears it with `None`).
    pub fn set_grad(&self, g: Option<Tensor>) {
        if let Some(g) = &g {
            assert_eq!(
                g.shape(),
                self.shape(),
                "set_grad: gradient shape differs from tensor shape"
            );
        }
        *self.inner.grad.lock() = g;
    }

    /// Clears the gradient (PyTorch's `set_to_none=True` behaviour).
    pub fn zero_grad(&self) {
        *self.inner.grad.lock() = None;
    }

    pub(crate) fn accumulate_grad(&self, g: &Tensor) {
        let mut slot = self.inner.grad.lock();
        match slot.as_ref() {
            None => *slot = Some(g.detach_copy()),
            Some(old) => {
                let mut d = old.data_mut();
                let gd = g.data();
                assert_eq!(d.len(), gd.len(), "gradient shape mismatch at accumulation");
                d.iter_mut().zip(gd.iter()).for_each(|(a, b)| *a += b);
            }
        }
    }

    /// A tensor sharing this one's data but cut out of the graph.
    pub fn detach(&self) -> Tensor {
        self.share(self.inner.shape.clone(), None)
    }

    /// A tensor with a copy of this one's data, out of the graph.
    pub fn detach_copy(&self) -> Tensor {
        Tensor::from_vec(self.to_vec(), self.shape())
    }

    /// Copies values from `src` (same number of elements) into this tensor in place.
    pub fn copy_from(&self, src: &Tensor) {
        assert_eq!(
            self.numel(),
            src.numel(),
            "copy_from: shapes {:?} and {:?} differ",
            self.shape(),
            src.shape()
        );
        if Arc::ptr_eq(&self.inner.data, &src.inner.data) {
            if self.inner.offset == src.inner.offset {
                return;
            }
            let v = src.to_vec();
            self.data_mut().copy_from_slice(&v);
            return;
        }
        let s = src.data();
        self.data_mut().copy_from_slice(&s);
    }

    /// Whether any value is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        self.data().iter().any(|v| !v.is_finite())
    }

    /// Resolves a possibly negative axis against this tensor's rank.
    pub fn axis(&self, dim: isize) -> usize {
        shape::normalize_axis(dim, self.ndim())
    }
}

/// `println!("{t}")` prints the values as PyTorch does: `tensor([[1., 2.],
/// [3., 4.]])`, a tensor of more than 1000 values summarised by its first
/// and last three along every axis.
impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = self.shape().to_vec();
        let data = self.data().to_vec();
        let summarise = data.len() > 1000;
        let strides: Vec<usize> = (0..shape.len())
            .map(|i| shape[i + 1..].iter().product())
            .collect();
        fn value(v: f32) -> String {
            if v.is_finite() && v == v.trunc() && v.abs() < 1e8 {
                format!("{v:.0}.")
            } else if v.is_finite() && (v.abs() >= 1e8 || (v != 0.0 && v.abs() < 1e-4)) {
                format!("{v:.4e}")
            } else {
                format!("{v:.4}")
            }
        }
        #[allow(clippy::too_many_arguments)]
        fn rows(
            out: &mut String,
            data: &[f32],
            shape: &[usize],
            strides: &[usize],
            dim: usize,
            at: usize,
            summarise: bool,
            indent: usize,
        ) {
            if shape.is_empty() {
                out.push_str(&value(data[0]));
                return;
            }
            let n = shape[dim];
            let shown: Vec<Option<usize>> = if summarise && n > 6 {
                (0..3)
                    .map(Some)
                    .chain([None])
                    .chain((n - 3..n).map(Some))
                    .collect()
            } else {
                (0..n).map(Some).collect()
            };
            out.push('[');
            let last = dim + 1 == shape.len();
            for (k, i) in shown.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                    if last {
                        out.push(' ');
                    } else {
                        out.push_str(&"\n".repeat(shape.len() - dim - 1));
                        out.push_str(&" ".repeat(indent + dim + 1));
                    }
                }
                match i {
                    None => out.push_str("..."),
                    Some(i) if last => out.push_str(&value(data[at + i * strides[dim]])),
                    Some(i) => rows(
                        out,
                        data,
                        shape,
                        strides,
                        dim + 1,
                        at + i * strides[dim],
                        summarise,
                        indent,
                    ),
                }
            }
            out.push(']');
        }
        let mut out = String::from("tensor(");
        if data.is_empty() {
            out.push_str(&format!("[], size={shape:?}"));
        } else {
            rows(&mut out, &data, &shape, &strides, 0, 0, summarise, 7);
        }
        if self.requires_grad() {
            out.push_str(", requires_grad=True");
        }
        out.push(')');
        f.write_str(&out)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.data();
        let shown: Vec<f32> = d.iter().take(16).copied().collect();
        write!(f, "Tensor(shape={:?}, data={:?}", self.shape(), shown)?;
        if d.len() > 16 {
            write!(f, "...")?;
        }
        if self.requires_grad() {
            write!(f, ", requires_grad=true")?;
        }
        write!(f, ")")
    }
}
