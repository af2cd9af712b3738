//! The DAG as a Mermaid flowchart (for Markdown that renders Mermaid): nodes get positional ids
//! (`s0`, `s1`, ...) because step names may hold characters Mermaid ids cannot.

use crate::dag::Dag;
use std::fmt::Write;

pub fn render(dag: &Dag) -> String {
    let mut out = String::from("flowchart LR\n");
    for layer in dag.layers() {
        for i in layer {
            let node = &dag.nodes[i];
            let label = match &node.state {
                Some(s) => format!("{}<br/>{s}", escape(&node.name)),
                None => escape(&node.name),
            };
            let _ = writeln!(out, "  s{i}[\"{label}\"]");
        }
    }
    for (child, parents) in dag.parents.iter().enumerate() {
        for &p in parents {
            let _ = writeln!(out, "  s{p} --> s{child}");
        }
    }
    out
}

/// Mermaid's entity codes for the characters that end or alter a quoted label.
fn escape(s: &str) -> String {
    let mut e = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => e.push_str("#quot;"),
            '<' => e.push_str("#lt;"),
            '>' => e.push_str("#gt;"),
            '#' => e.push_str("#35;"),
            '\n' => e.push(' '),
            c => e.push(c),
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::Node;

    #[test]
    fn nodes_by_position_and_escaped_labels() {
        let nodes = vec![
            Node {
                name: "a\"#".into(),
                state: Some("error".into()),
            },
            Node {
                name: "b".into(),
                state: None,
            },
        ];
        let dag = Dag::new(nodes, &[vec![], vec!["a\"#".into()]]);
        assert_eq!(
            render(&dag),
            "flowchart LR\n  s0[\"a#quot;#35;<br/>error\"]\n  s1[\"b\"]\n  s0 --> s1\n"
        );
    }
}
