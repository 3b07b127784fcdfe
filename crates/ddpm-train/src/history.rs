use serde::Serialize;

/// The loss of one optimiser step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LossRecord {
    pub step: usize,
    pub loss: f32,
    pub learning_rate: f64,
}

/// Every step's loss, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LossHistory {
    pub records: Vec<LossRecord>,
}

impl LossHistory {
    /// Mean loss over the last `n` steps (all of them if fewer): a less noisy "final loss".
    pub fn recent_mean(&self, n: usize) -> Option<f32> {
        let tail = &self.records[self.records.len().saturating_sub(n)..];
        (!tail.is_empty()).then(|| tail.iter().map(|r| r.loss).sum::<f32>() / tail.len() as f32)
    }

    /// `step,loss,learning_rate` rows with a header.
    pub fn to_csv(&self) -> String {
        let rows = self.records.iter().map(|r| format!("{},{},{}\n", r.step, r.loss, r.learning_rate));
        std::iter::once("step,loss,learning_rate\n".to_string()).chain(rows).collect()
    }
}
