//! What a classifier says the samples show: the class histogram, its entropy, and agreement with a
//! requested class.

/// Class statistics of predicted labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassStats {
    /// Samples per class.
    pub histogram: Vec<usize>,
    /// Entropy of the histogram in nats: ln(classes) when balanced, 0 when one class.
    pub entropy: f64,
    /// The share predicted as the requested class, when one was requested.
    pub agreement: Option<f64>,
}

/// # Panics
/// When a label is not below `classes`.
pub fn class_stats(labels: &[usize], classes: usize, requested: Option<&[usize]>) -> ClassStats {
    let mut histogram = vec![0; classes];
    for &label in labels {
        assert!(label < classes, "label {label} is not below {classes}");
        histogram[label] += 1;
    }
    let n = labels.len() as f64;
    let entropy = histogram.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum::<f64>() + 0.0;
    let agreement = requested.map(|wanted| labels.iter().zip(wanted).filter(|(a, b)| a == b).count() as f64 / n);
    ClassStats { histogram, entropy, agreement }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_ln_classes_when_balanced_and_zero_for_one_class() {
        let balanced: Vec<usize> = (0..1000).map(|i| i % 10).collect();
        assert!((class_stats(&balanced, 10, None).entropy - 10f64.ln()).abs() < 1e-12);
        let single = class_stats(&[3; 50], 10, Some(&[3; 50]));
        assert_eq!((single.entropy, single.agreement, single.histogram[3]), (0.0, Some(1.0), 50));
    }
}
