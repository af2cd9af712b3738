//! The layered layout of a task's DAG: longest-path layers (a step sits one layer right of its
//! deepest parent), then barycentre sweeps that order each layer by the mean position of its
//! neighbours, which removes most edge crossings of real workflows. Above `SUMMARY_THRESHOLD`
//! steps no per-step drawing stays readable, so callers draw per-layer counts instead.

use std::collections::VecDeque;

/// Above this many steps the DAG is drawn summarised (per layer, counts by state).
pub(crate) const SUMMARY_THRESHOLD: usize = 500;

/// Down-and-up sweeps of the barycentre ordering; a handful settles real workflows.
const SWEEPS: usize = 4;

/// Where each node goes: its layer (column) and its rank within the layer (row).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Node indexes per layer, in drawing order.
    pub layers: Vec<Vec<usize>>,
    /// (layer, rank) of each node.
    pub position: Vec<(usize, usize)>,
}

/// Lays out `parents.len()` nodes; `parents[i]` are node i's dependencies (indexes; unknown
/// ones are ignored). Nodes on a cycle (impossible in a validated template) get one extra last
/// layer so that nothing is hidden. `order` is false for the summarised view, which needs the
/// layers only.
pub(crate) fn layout(parents: &[Vec<usize>], order: bool) -> Layout {
    let n = parents.len();
    let mut layers = longest_path_layers(parents);
    if order {
        let children = children_of(parents);
        // Each layer is sorted against its neighbour layer as that one was just sorted.
        for _ in 0..SWEEPS {
            for k in 1..layers.len() {
                let rank = relative_ranks(&layers, n);
                sort_by_barycentre(&mut layers, k, parents, &rank);
            }
            for k in (0..layers.len().saturating_sub(1)).rev() {
                let rank = relative_ranks(&layers, n);
                sort_by_barycentre(&mut layers, k, &children, &rank);
            }
        }
    }
    let position = positions(&layers, n);
    Layout { layers, position }
}

fn children_of(parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut children = vec![Vec::new(); parents.len()];
    for (child, ps) in parents.iter().enumerate() {
        for &p in ps {
            if let Some(c) = children.get_mut(p) {
                c.push(child);
            }
        }
    }
    children
}

/// Kahn's algorithm keeping, for each node, the longest chain above it.
fn longest_path_layers(parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = parents.len();
    let children = children_of(parents);
    let mut waiting: Vec<usize> = parents
        .iter()
        .map(|ps| ps.iter().filter(|&&p| p < n).count())
        .collect();
    let mut depth = vec![0usize; n];
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut placed = vec![false; n];
    while let Some(node) = queue.pop_front() {
        placed[node] = true;
        for &c in &children[node] {
            depth[c] = depth[c].max(depth[node].saturating_add(1));
            waiting[c] = waiting[c].saturating_sub(1);
            if waiting[c] == 0 {
                queue.push_back(c);
            }
        }
    }
    let deepest = (0..n).filter(|&i| placed[i]).map(|i| depth[i]).max();
    let cycle_layer = deepest.map_or(0, |d| d.saturating_add(1));
    let mut layers: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        let layer = if placed[i] { depth[i] } else { cycle_layer };
        if layers.len() <= layer {
            layers.resize_with(layer + 1, Vec::new);
        }
        layers[layer].push(i);
    }
    layers
}

fn positions(layers: &[Vec<usize>], n: usize) -> Vec<(usize, usize)> {
    let mut pos = vec![(0, 0); n];
    for (l, layer) in layers.iter().enumerate() {
        for (r, &node) in layer.iter().enumerate() {
            pos[node] = (l, r);
        }
    }
    pos
}

/// Each node's rank as a fraction of its layer's height, so that layers of different sizes
/// compare (a node in a layer of 2 at rank 1 sits level with rank 5 of a layer of 10).
fn relative_ranks(layers: &[Vec<usize>], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for layer in layers {
        let size = layer.len().max(1) as f64;
        for (r, &node) in layer.iter().enumerate() {
            out[node] = (r as f64 + 0.5) / size;
        }
    }
    out
}

/// Stable sort of layer `k` by the mean relative rank of each node's `neighbours`; a node
/// without any keeps its current relative rank.
fn sort_by_barycentre(
    layers: &mut [Vec<usize>],
    k: usize,
    neighbours: &[Vec<usize>],
    rank: &[f64],
) {
    let mut keyed: Vec<(f64, usize)> = layers[k]
        .iter()
        .map(|&node| {
            let ns: Vec<f64> = neighbours[node]
                .iter()
                .filter_map(|&m| rank.get(m).copied())
                .collect();
            let key = if ns.is_empty() {
                rank[node]
            } else {
                ns.iter().sum::<f64>() / ns.len() as f64
            };
            (key, node)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    layers[k] = keyed.into_iter().map(|(_, node)| node).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond() -> Vec<Vec<usize>> {
        vec![vec![], vec![0], vec![0], vec![1, 2]]
    }

    #[test]
    fn layers_respect_edges() {
        let l = layout(&diamond(), true);
        assert_eq!(l.layers.len(), 3);
        for (child, ps) in diamond().iter().enumerate() {
            for &p in ps {
                assert!(l.position[p].0 < l.position[child].0, "{p} -> {child}");
            }
        }
    }

    #[test]
    fn no_two_nodes_share_a_slot_in_a_wide_graph() {
        // 50 steps: a root, 48 fan-out steps in chains of varying length, a join.
        let mut parents: Vec<Vec<usize>> = vec![vec![]];
        for i in 1..49 {
            parents.push(if i % 3 == 0 { vec![i - 1] } else { vec![0] });
        }
        parents.push((1..49).collect());
        let l = layout(&parents, true);
        let mut slots: Vec<(usize, usize)> = l.position.clone();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), parents.len());
        for (child, ps) in parents.iter().enumerate() {
            for &p in ps {
                assert!(l.position[p].0 < l.position[child].0);
            }
        }
    }

    #[test]
    fn barycentre_ordering_uncrosses_two_parallel_chains() {
        // a0 -> b1, a1 -> b0 declared crossed: the sweep puts each child level with its parent.
        let parents = vec![vec![], vec![], vec![1], vec![0]];
        let l = layout(&parents, true);
        assert_eq!(l.position[3].1, l.position[0].1);
        assert_eq!(l.position[2].1, l.position[1].1);
    }

    #[test]
    fn a_cycle_is_drawn_in_an_extra_layer() {
        let parents = vec![vec![], vec![2], vec![1]];
        let l = layout(&parents, true);
        assert_eq!(l.layers, vec![vec![0], vec![1, 2]]);
    }
}
