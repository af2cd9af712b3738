//! The DAG as Graphviz dot (`tasker task dag ID --format dot | dot -Tsvg`): ranks follow the
//! layers of dag.rs, each step labelled with its name and state.

use crate::dag::Dag;
use std::fmt::Write;

pub fn render(title: &str, dag: &Dag) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n",
        quote(title)
    );
    for layer in dag.layers() {
        out.push_str("  { rank=same;");
        for i in layer {
            let node = &dag.nodes[i];
            let label = match &node.state {
                Some(s) => format!("{}\n{s}", node.name),
                None => node.name.clone(),
            };
            let _ = write!(out, " {} [label={}];", quote(&node.name), quote(&label));
        }
        out.push_str(" }\n");
    }
    for (child, parents) in dag.parents.iter().enumerate() {
        for &p in parents {
            let _ = writeln!(
                out,
                "  {} -> {};",
                quote(&dag.nodes[p].name),
                quote(&dag.nodes[child].name)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// A dot ID in double quotes: backslash and quote escaped, a newline as dot's `\n`.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::Node;

    #[test]
    fn edges_ranks_and_escaped_names() {
        let nodes = vec![
            Node {
                name: "a".into(),
                state: Some("complete".into()),
            },
            Node {
                name: "say \"hi\"".into(),
                state: None,
            },
        ];
        let dag = Dag::new(nodes, &[vec![], vec!["a".into()]]);
        assert_eq!(
            render("t", &dag),
            "digraph \"t\" {\n  rankdir=LR;\n  node [shape=box];\n\
             \x20 { rank=same; \"a\" [label=\"a\\ncomplete\"]; }\n\
             \x20 { rank=same; \"say \\\"hi\\\"\" [label=\"say \\\"hi\\\"\"]; }\n\
             \x20 \"a\" -> \"say \\\"hi\\\"\";\n}\n"
        );
    }
}
