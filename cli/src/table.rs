//! `table`: rows of text cells aligned in columns under a header, for the listing commands.

use std::fmt::Write;

/// The header and the rows, each column as wide as its widest cell, two spaces apart, with no
/// trailing spaces.
pub fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, w) in r.iter().zip(widths) {
            let _ = write!(line, "{cell:w$}  ");
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_on_the_widest_cell() {
        let rows = [
            ["1".to_string(), "complete".to_string()],
            ["22".into(), "".into()],
        ];
        assert_eq!(
            super::render(["id", "state"], &rows),
            "id  state\n1   complete\n22\n"
        );
    }
}
