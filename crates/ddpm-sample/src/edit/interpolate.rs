//! Spherical interpolation of noises: Gaussian noise of many dimensions lies near a sphere of radius
//! sqrt(d), and a straight line between two draws passes well inside it (its midpoint has about
//! 1/sqrt(2) of the norm), where the model has never seen an x_T. Slerp stays on the great circle.

/// The point a fraction `w` in [0, 1] of the way from `a` to `b` along the great circle through them
/// (Shoemake 1985): sin((1 - w) theta) / sin(theta) a + sin(w theta) / sin(theta) b, theta the angle
/// between them; a straight line where they are (nearly) parallel.
///
/// # Panics
/// When `a` and `b` differ in length.
pub fn slerp(a: &[f32], b: &[f32], w: f64) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "slerp between vectors of one length");
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let cos = (dot / (norm(a) * norm(b)).max(f64::MIN_POSITIVE)).clamp(-1.0, 1.0);
    let theta = cos.acos();
    let (wa, wb) =
        if theta.sin() < 1e-6 { (1.0 - w, w) } else { (((1.0 - w) * theta).sin() / theta.sin(), (w * theta).sin() / theta.sin()) };
    a.iter().zip(b).map(|(&x, &y)| (wa * x as f64 + wb * y as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_at_its_ends_and_keeps_the_norm_of_orthogonal_unit_vectors() {
        let (a, b) = ([1.0, 0.0], [0.0, 1.0]);
        assert_eq!(slerp(&a, &b, 0.0), a);
        let end = slerp(&a, &b, 1.0);
        assert!((end[0] - 0.0).abs() < 1e-7 && (end[1] - 1.0).abs() < 1e-7, "{end:?}");
        let middle = slerp(&a, &b, 0.5);
        let half = std::f32::consts::FRAC_1_SQRT_2;
        assert!((middle[0] - half).abs() < 1e-6 && (middle[1] - half).abs() < 1e-6, "the arc's midpoint: {middle:?}");
        assert_eq!(slerp(&[2.0, 0.0], &[4.0, 0.0], 0.5), [3.0, 0.0], "parallel vectors: a straight line");
    }
}
