//! `Dag`: a task's (or template's) steps and their dependencies, laid out in topological
//! layers, and drawn as text for a terminal. The dot and mermaid writers (dot.rs, mermaid.rs)
//! use the same layout.

use crate::output::max_width;
use std::collections::VecDeque;
use std::fmt::Write;

/// One step: its name and, for a task, its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dag {
    pub nodes: Vec<Node>,
    /// The parents (dependencies) of each node, as indexes into `nodes`.
    pub parents: Vec<Vec<usize>>,
}

impl Dag {
    /// Builds the graph from names and each node's parent names; an unknown parent name is
    /// left out (a stored graph has none; the template validation refuses them).
    pub fn new(nodes: Vec<Node>, parent_names: &[Vec<String>]) -> Dag {
        let index: std::collections::HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let parents = (0..nodes.len())
            .map(|i| {
                parent_names
                    .get(i)
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| index.get(p.as_str()).copied())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Dag { nodes, parents }
    }

    /// The topological layers: layer 0 holds the steps without dependencies, layer k the
    /// steps whose longest dependency chain has k steps. Within a layer, declaration order.
    /// Nodes on a cycle (impossible in a validated template) come last, in one extra layer,
    /// so that nothing is ever hidden.
    pub fn layers(&self) -> Vec<Vec<usize>> {
        let n = self.nodes.len();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting: Vec<usize> = vec![0; n];
        for (child, ps) in self.parents.iter().enumerate() {
            for &p in ps {
                if let Some(c) = children.get_mut(p) {
                    c.push(child);
                    waiting[child] += 1;
                }
            }
        }
        let mut level: Vec<Option<usize>> = vec![None; n];
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        for &i in &queue {
            level[i] = Some(0);
        }
        while let Some(node) = queue.pop_front() {
            let next = level[node].unwrap_or(0).saturating_add(1);
            for &c in &children[node] {
                level[c] = Some(level[c].map_or(next, |l| l.max(next)));
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    queue.push_back(c);
                }
            }
        }
        let placed = level.iter().flatten().copied().max().map_or(0, |m| m + 1);
        let mut layers: Vec<Vec<usize>> = vec![Vec::new(); placed];
        let mut cyclic = Vec::new();
        for (i, l) in level.iter().enumerate() {
            // A node still waiting is on (or behind) a cycle, whatever level it got so far.
            match l {
                Some(l) if waiting[i] == 0 => layers[*l].push(i),
                _ => cyclic.push(i),
            }
        }
        if !cyclic.is_empty() {
            layers.push(cyclic);
        }
        layers
    }

    /// The graph as text: one line per step, grouped by layer, with its state and the steps it
    /// waits for. Stays readable for large graphs (one line per step, no crossing edges).
    pub fn render_text(&self) -> String {
        let width = max_width(self.nodes.iter().map(|n| n.name.as_str()));
        let state_width = max_width(self.nodes.iter().filter_map(|n| n.state.as_deref()));
        let mut out = String::new();
        let layers = self.layers();
        for (k, layer) in layers.iter().enumerate() {
            let _ = writeln!(out, "layer {}", k + 1);
            for &i in layer {
                let node = &self.nodes[i];
                let mut line = format!("  {} {:width$}", marker(node.state.as_deref()), node.name);
                if let Some(state) = &node.state {
                    let _ = write!(line, "  {state:state_width$}");
                }
                if !self.parents[i].is_empty() {
                    let names: Vec<&str> = self.parents[i]
                        .iter()
                        .map(|&p| self.nodes[p].name.as_str())
                        .collect();
                    let _ = write!(line, "  <- {}", names.join(", "));
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        out
    }
}

/// A one-glance state marker; `[ ]` for a template step (no state) and a pending one.
fn marker(state: Option<&str>) -> &'static str {
    match state {
        Some("complete") => "[x]",
        Some("resolved_manually") => "[~]",
        Some("in_progress") => "[>]",
        Some("error") => "[!]",
        Some("cancelled") => "[-]",
        _ => "[ ]",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(spec: &[(&str, &[&str])]) -> Dag {
        let nodes = spec
            .iter()
            .map(|(n, _)| Node {
                name: n.to_string(),
                state: None,
            })
            .collect();
        let parents: Vec<Vec<String>> = spec
            .iter()
            .map(|(_, ps)| ps.iter().map(|p| p.to_string()).collect())
            .collect();
        Dag::new(nodes, &parents)
    }

    #[test]
    fn layers_follow_the_longest_dependency_chain() {
        // d depends on a directly and on c, which is two steps down: d belongs to layer 3.
        let g = dag(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["a", "c"]),
            ("e", &[]),
        ]);
        assert_eq!(g.layers(), vec![vec![0, 4], vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn declaration_order_does_not_matter() {
        let g = dag(&[("late", &["early"]), ("early", &[])]);
        assert_eq!(g.layers(), vec![vec![1], vec![0]]);
    }

    #[test]
    fn nodes_on_a_cycle_are_shown_in_a_last_layer() {
        let g = dag(&[("a", &[]), ("b", &["c"]), ("c", &["b"]), ("d", &["c"])]);
        assert_eq!(g.layers(), vec![vec![0], vec![1, 2, 3]]);
    }

    #[test]
    fn unknown_parents_are_left_out() {
        let g = dag(&[("a", &["missing"])]);
        assert_eq!(g.parents, vec![Vec::<usize>::new()]);
    }

    #[test]
    fn text_lists_layers_states_and_dependencies() {
        let mut g = dag(&[
            ("validate", &[]),
            ("charge", &["validate"]),
            ("ship", &["charge"]),
        ]);
        g.nodes[0].state = Some("complete".into());
        g.nodes[1].state = Some("error".into());
        g.nodes[2].state = Some("pending".into());
        assert_eq!(
            g.render_text(),
            "layer 1\n  [x] validate  complete\n\
             layer 2\n  [!] charge    error     <- validate\n\
             layer 3\n  [ ] ship      pending   <- charge\n"
        );
    }

    #[test]
    fn a_wide_graph_has_one_line_per_step() {
        // 50 steps: a root, 48 in parallel, one join.
        let names: Vec<String> = (0..50).map(|i| format!("s{i:02}")).collect();
        let mut spec: Vec<(String, Vec<String>)> = vec![(names[0].clone(), vec![])];
        for n in &names[1..49] {
            spec.push((n.clone(), vec![names[0].clone()]));
        }
        spec.push((names[49].clone(), names[1..49].to_vec()));
        let nodes = spec
            .iter()
            .map(|(n, _)| Node {
                name: n.clone(),
                state: None,
            })
            .collect();
        let parents: Vec<Vec<String>> = spec.iter().map(|(_, p)| p.clone()).collect();
        let g = Dag::new(nodes, &parents);
        let text = g.render_text();
        assert_eq!(text.lines().count(), 50 + 3);
        assert_eq!(
            g.layers().iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1, 48, 1]
        );
    }
}
