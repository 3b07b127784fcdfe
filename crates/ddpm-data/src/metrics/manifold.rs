//! Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
//! around its points reaching their k-th nearest neighbour.

use super::Features;

/// Neighbours that set each ball's radius (the paper's k).
const K: usize = 3;

/// Precision: the share of generated points inside the real manifold (fidelity). Recall: the share of
/// real points inside the generated one (coverage).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionRecall {
    pub precision: f64,
    pub recall: f64,
}

/// # Panics
/// When the dimensions differ or either set has K or fewer rows.
pub fn precision_recall(real: &Features, generated: &Features) -> PrecisionRecall {
    assert_eq!(real.dim, generated.dim, "feature dimensions differ");
    assert!(real.rows > K && generated.rows > K, "precision and recall need more than {K} rows in each set");
    let (real_radii, generated_radii) = (kth_neighbour_distances(real), kth_neighbour_distances(generated));
    PrecisionRecall { precision: coverage(real, &real_radii, generated), recall: coverage(generated, &generated_radii, real) }
}

fn squared_distance(u: &[f32], v: &[f32]) -> f32 {
    u.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// The squared distance from each row to its K-th nearest other row.
fn kth_neighbour_distances(f: &Features) -> Vec<f32> {
    (0..f.rows)
        .map(|i| {
            let mut distances: Vec<f32> = (0..f.rows).filter(|&j| j != i).map(|j| squared_distance(f.row(i), f.row(j))).collect();
            let (_, kth, _) = distances.select_nth_unstable_by(K - 1, f32::total_cmp);
            *kth
        })
        .collect()
}

/// The share of `points` within some ball of the manifold (`centres`, squared `radii`).
fn coverage(centres: &Features, radii: &[f32], points: &Features) -> f64 {
    let inside =
        (0..points.rows).filter(|&p| (0..centres.rows).any(|c| squared_distance(points.row(p), centres.row(c)) <= radii[c])).count();
    inside as f64 / points.rows as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collapsed_generator_has_precision_but_no_recall() {
        // Real points on a line 0..100; generated ones all near 10: inside the real manifold (precision 1),
        // covering only the few real points near 10.
        let real = Features::new((0..100).map(|i| i as f32).collect(), 100, 1);
        let generated = Features::new((0..100).map(|i| 10.0 + i as f32 * 0.01).collect(), 100, 1);
        let pr = precision_recall(&real, &generated);
        assert_eq!(pr.precision, 1.0);
        assert!(pr.recall < 0.05, "{pr:?}");
        let same = precision_recall(&real, &real);
        assert_eq!((same.precision, same.recall), (1.0, 1.0));
    }
}
