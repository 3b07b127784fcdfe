//! Reading checkpoints of format 2, written before the project's U-Net and diffusers' `UNet2DModel`
//! shared one family of blocks. Their weight files name the U-Net's block parameters the old way, and
//! hold each attention's query, key and value projections as one fused `qkv` layer; this module renames
//! them as format 3 does, splits `qkv` into `to_q`, `to_k` and `to_v` (in the weights and in the
//! optimiser's per-parameter state alike), and hands back burnpack bytes in format 3. Nothing is
//! written: the next checkpoint of a resumed run is simply written in format 3.
//!
//! | format 2 | format 3 |
//! | --- | --- |
//! | `<level>.blocks.<i>.time` | `<level>.blocks.<i>.time_emb_proj` |
//! | `<level>.blocks.<i>.second.0`, `.second.1` | `<level>.blocks.<i>.norm2`, `.conv2` |
//! | `<level>.blocks.<i>.skip` | `<level>.blocks.<i>.conv_shortcut` |
//! | `<level>.attention.norm`, `.out` | `<level>.attention.group_norm`, `.to_out.0` |
//! | `<level>.attention.qkv` (`[C, 3C]`) | `<level>.attention.to_q`, `.to_k`, `.to_v` (`[C, C]` each) |
//!
//! where `<level>` is `down.<n>`, `mid` or `up.<n>`. No other network's paths have this shape.

use std::collections::HashMap;
use std::path::Path;

use burn_pack::{Bytes, Reader, Tensor, Writer};

/// The format this module upgrades from.
pub(crate) const FORMAT: u32 = 2;

/// What becomes of one format-2 parameter.
#[derive(Debug, PartialEq)]
enum Upgrade {
    Unchanged,
    Renamed(String),
    /// The fused projection, cut along its last dimension into these three.
    Split([String; 3]),
}

/// The format-3 fate of the format-2 parameter at `path`.
fn upgrade_of(path: &str) -> Upgrade {
    let segments: Vec<&str> = path.split('.').collect();
    let is_index = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let level = match segments.as_slice() {
        ["mid", ..] => 1,
        ["down" | "up", n, ..] if is_index(n) => 2,
        _ => return Upgrade::Unchanged,
    };
    let (head, rest) = segments.split_at(level);
    let join = |middle: &[&str], tail: &[&str]| head.iter().chain(middle).chain(tail).copied().collect::<Vec<_>>().join(".");
    match rest {
        ["blocks", i, "time", tail @ ..] if is_index(i) => Upgrade::Renamed(join(&["blocks", i, "time_emb_proj"], tail)),
        ["blocks", i, "second", "0", tail @ ..] if is_index(i) => Upgrade::Renamed(join(&["blocks", i, "norm2"], tail)),
        ["blocks", i, "second", "1", tail @ ..] if is_index(i) => Upgrade::Renamed(join(&["blocks", i, "conv2"], tail)),
        ["blocks", i, "skip", tail @ ..] if is_index(i) => Upgrade::Renamed(join(&["blocks", i, "conv_shortcut"], tail)),
        ["attention", "norm", tail @ ..] => Upgrade::Renamed(join(&["attention", "group_norm"], tail)),
        ["attention", "out", tail @ ..] => Upgrade::Renamed(join(&["attention", "to_out", "0"], tail)),
        ["attention", "qkv", tail @ ..] => Upgrade::Split(["to_q", "to_k", "to_v"].map(|part| join(&["attention", part], tail))),
        _ => Upgrade::Unchanged,
    }
}

/// The parameter id of part `part` of a split parameter: derived from the fused one's, so the
/// weights, their EMA and the optimiser state, upgraded separately, agree on it.
fn part_id(id: u64, part: usize) -> u64 {
    // splitmix64's finaliser: distinct parts of distinct ids collide with probability 2^-64.
    let mut z = id ^ (part as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Cuts `tensor` into three along its last dimension, naming the parts `names` and giving each the
/// parameter id `ids(part)`.
fn split_in_three(tensor: Tensor, names: &[String; 3], ids: impl Fn(usize) -> Option<u64>) -> Result<Vec<Tensor>, String> {
    let (name, dtype, shape, _, bytes) = tensor.into_parts().map_err(|e| e.to_string())?;
    let mut dims = shape.to_vec();
    let last = dims.last().copied().unwrap_or(0);
    if last == 0 || !last.is_multiple_of(3) {
        return Err(format!("'{name}' of shape {dims:?} cannot be the fused projection of a query, a key and a value"));
    }
    let part_bytes = last / 3 * dtype.size();
    let mut parts: [Vec<u8>; 3] = Default::default();
    for row in bytes.chunks_exact(3 * part_bytes) {
        for (part, chunk) in parts.iter_mut().zip(row.chunks_exact(part_bytes)) {
            part.extend_from_slice(chunk);
        }
    }
    *dims.last_mut().expect("checked above") = last / 3;
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(part, data)| Tensor::new(names[part].clone(), dtype, dims.clone(), ids(part), Bytes::from_bytes_vec(data)))
        .collect())
}

fn renamed(tensor: Tensor, name: String) -> Result<Tensor, String> {
    let (_, dtype, shape, id, bytes) = tensor.into_parts().map_err(|e| e.to_string())?;
    Ok(Tensor::new(name, dtype, shape, id, bytes))
}

fn read(file: &Path) -> Result<Reader, String> {
    Reader::from_bytes(crate::checkpoint::read_whole(file)?).map_err(|e| format!("unreadable weights ({e})"))
}

/// The weights file `file` (`model.bpk` or `ema.bpk`) of a format-2 checkpoint, in format 3.
pub(crate) fn weights(file: &Path) -> Result<Bytes, String> {
    let mut upgraded = Vec::new();
    for tensor in read(file)?.into_tensors().map_err(|e| e.to_string())? {
        match upgrade_of(&tensor.name) {
            Upgrade::Unchanged => upgraded.push(tensor),
            Upgrade::Renamed(name) => upgraded.push(renamed(tensor, name)?),
            Upgrade::Split(names) => {
                let id = tensor.param_id;
                upgraded.extend(split_in_three(tensor, &names, |part| id.map(|id| part_id(id, part)))?);
            }
        }
    }
    Writer::new(upgraded).into_bytes().map_err(|e| e.to_string())
}

/// The parameter id and field of the optimiser entry `key` (`<id>.<field>`), when that parameter is split.
fn of_split_parameter(key: &str, upgrades: &HashMap<u64, Upgrade>) -> Option<(u64, String)> {
    let (id, field) = key.split_once('.').unwrap_or((key, ""));
    let id = id.parse::<u64>().ok()?;
    matches!(upgrades.get(&id), Some(Upgrade::Split(_))).then(|| (id, field.to_string()))
}

/// The optimiser state `file` of a format-2 checkpoint, in format 3, given its online weights
/// `model_file` (which say which parameter each state belongs to). The state of a split parameter
/// (AdamW's moments, `[C, 3C]` like the parameter) is split as the parameter is, and its scalars
/// (the step count) are copied to each part.
pub(crate) fn optimizer(file: &Path, model_file: &Path) -> Result<Bytes, String> {
    let mut upgrades: HashMap<u64, Upgrade> = HashMap::new();
    for tensor in read(model_file)?.into_tensors().map_err(|e| e.to_string())? {
        if let Some(id) = tensor.param_id {
            upgrades.insert(id, upgrade_of(&tensor.name));
        }
    }
    let reader = read(file)?;
    let (scalars, paths) = (reader.scalars().clone(), reader.metadata().clone());
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| e.to_string())? {
        match of_split_parameter(&tensor.name, &upgrades) {
            Some((id, field)) => {
                let names = [0, 1, 2].map(|part| format!("{}.{field}", part_id(id, part)));
                tensors.extend(split_in_three(tensor, &names, |part| Some(part_id(id, part)))?);
            }
            None => tensors.push(tensor),
        }
    }
    let mut writer = Writer::new(tensors);
    for (key, value) in &scalars {
        match of_split_parameter(key, &upgrades) {
            Some((id, field)) => {
                for part in 0..3 {
                    writer = writer.with_scalar(&format!("{}.{field}", part_id(id, part)), *value);
                }
            }
            None => writer = writer.with_scalar(key, *value),
        }
    }
    // Metadata maps a parameter id to its path.
    for (key, path) in &paths {
        let upgrade = key.parse::<u64>().ok().map(|id| (id, upgrade_of(path)));
        match upgrade {
            Some((id, Upgrade::Split(names))) => {
                for (part, name) in names.iter().enumerate() {
                    writer = writer.with_metadata(&part_id(id, part).to_string(), name);
                }
            }
            Some((_, Upgrade::Renamed(name))) => writer = writer.with_metadata(key, &name),
            _ => writer = writer.with_metadata(key, path),
        }
    }
    writer.into_bytes().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_u_nets_block_paths_take_diffusers_names() {
        let renamed = |from: &str, to: &str| assert_eq!(upgrade_of(from), Upgrade::Renamed(to.into()), "{from}");
        renamed("down.0.blocks.1.time.weight", "down.0.blocks.1.time_emb_proj.weight");
        renamed("mid.blocks.0.second.0.gamma", "mid.blocks.0.norm2.gamma");
        renamed("up.2.blocks.0.second.1.bias", "up.2.blocks.0.conv2.bias");
        renamed("up.0.blocks.0.skip.weight", "up.0.blocks.0.conv_shortcut.weight");
        renamed("mid.attention.norm.beta", "mid.attention.group_norm.beta");
        renamed("down.1.attention.out.weight", "down.1.attention.to_out.0.weight");
        assert_eq!(
            upgrade_of("up.1.attention.qkv.bias"),
            Upgrade::Split(["up.1.attention.to_q.bias".into(), "up.1.attention.to_k.bias".into(), "up.1.attention.to_v.bias".into()])
        );
        // Other paths, and other networks' (diffusers' names, the MLP's), stay as they are.
        for path in ["down.0.blocks.1.norm1.gamma", "time_mlp.0.weight", "down_blocks.0.resnets.0.time_emb_proj.weight", "layers.0.weight"]
        {
            assert_eq!(upgrade_of(path), Upgrade::Unchanged, "{path}");
        }
    }

    #[test]
    fn a_fused_projection_splits_along_its_last_dimension() {
        // [2, 6]: rows (0..6) and (6..12); parts of width 2.
        let values: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let fused = Tensor::new("qkv".into(), burn_pack::DType::F32, vec![2, 6], Some(7), Bytes::from_elems(values));
        let names = ["q", "k", "v"].map(String::from);
        let parts = split_in_three(fused, &names, |part| Some(part as u64)).unwrap();
        let expected = [[0.0, 1.0, 6.0, 7.0], [2.0, 3.0, 8.0, 9.0], [4.0, 5.0, 10.0, 11.0]];
        for (part, (tensor, want)) in parts.into_iter().zip(expected).enumerate() {
            let (name, _, shape, id, bytes) = tensor.into_parts().unwrap();
            assert_eq!((name.as_str(), shape.to_vec(), id), (names[part].as_str(), vec![2, 2], Some(part as u64)));
            let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            assert_eq!(values, want);
        }
    }
}
