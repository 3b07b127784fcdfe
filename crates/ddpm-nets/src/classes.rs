//! The class embedding of the class-conditional U-Nets: one learned row per class plus a last one for
//! "no class" (classifier-free guidance), added to the time embedding.

use burn::nn::Embedding;
use burn::tensor::{Int, Tensor, TensorData};

/// The classes `embedding` knows, not counting its last, "no class" row.
pub(crate) fn known_classes(embedding: &Embedding) -> usize {
    embedding.weight.dims()[0] - 1
}

/// The embedding of each example's class, `[batch, width]`; `None` embeds "no class" (the last row)
/// throughout.
///
/// # Panics
/// When a label is past the last row.
pub(crate) fn embed_classes(embedding: &Embedding, classes: Option<&[usize]>, batch: usize) -> Tensor<2> {
    let null = known_classes(embedding);
    let labels: Vec<i64> = match classes {
        Some(classes) => classes
            .iter()
            .map(|&c| {
                assert!(c <= null, "class {c} is out of range: this network knows classes 0..{null} and {null} for none");
                c as i64
            })
            .collect(),
        None => vec![null as i64; batch],
    };
    let device = embedding.weight.device();
    let labels = Tensor::<2, Int>::from_data(TensorData::new(labels, [batch, 1]), &device);
    embedding.forward(labels).squeeze_dim::<2>(1)
}
