//! Tables for people and for the county office: one shape, [`Table`], printed in the terminal (comfy-table),
//! written as CSV or JSON, or as an XLSX workbook with one sheet per table and numbers stored as numbers.
//!
//! Figures keep the form the server sent them in: counts are integers, rates and money are decimal strings
//! ("98.11", "7953.00"). CSV and JSON keep those strings exactly; XLSX stores them as numbers with as many
//! decimal places as they have. An empty figure (a rate on an empty base, a change on a zero base) stays an
//! empty cell, never a zero.

use std::{collections::HashMap, io::Write, path::Path};

use comfy_table::{CellAlignment, presets::UTF8_FULL_CONDENSED};
use rust_xlsxwriter::{Format, Workbook};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Csv {
        path: String,
        #[source]
        source: csv::Error,
    },
    #[error("writing {path}: {source}")]
    Xlsx {
        path: String,
        #[source]
        source: rust_xlsxwriter::XlsxError,
    },
}

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value: a rate on an empty base, a change on a zero base, a column that does not apply to the row.
    Empty,
    Text(String),
    Int(i64),
    /// A decimal as the server sent it ("98.11", "-25.00", "795300.00").
    Decimal(String),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// A decimal string; empty is [`Cell::Empty`], anything that is not a plain decimal stays text.
    pub fn decimal(s: &str) -> Cell {
        let s = s.trim();
        if s.is_empty() {
            Cell::Empty
        } else if is_decimal(s) {
            Cell::Decimal(s.to_owned())
        } else {
            Cell::Text(s.to_owned())
        }
    }

    /// The cell as it is shown and written to CSV: exactly the server's string.
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Decimal(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Decimal(_))
    }

    fn to_json(&self) -> Value {
        match self {
            Cell::Empty => Value::Null,
            Cell::Int(n) => Value::from(*n),
            // Decimals stay strings, as in the API: a JSON number would be a binary float.
            Cell::Text(s) | Cell::Decimal(s) => Value::from(s.as_str()),
        }
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Cell {
        Cell::Int(n)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

/// `-12.50`, `7953`, `0.5`: an optional minus, digits, and an optional fraction.
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (!s.contains('.') || !frac.is_empty())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Decimal places of a decimal string.
fn places(s: &str) -> usize {
    s.split_once('.').map_or(0, |(_, f)| f.len())
}

/// A column: `key` names it in CSV and JSON (snake case), `title` in the terminal and in XLSX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub key: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The sheet's name in XLSX (at most 31 characters): `indicators`, `visits`, …
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with columns given as `(key, title)`.
    pub fn new(name: &str, columns: &[(&str, &str)]) -> Table {
        Table {
            name: name.to_owned(),
            columns: columns
                .iter()
                .map(|(key, title)| Column {
                    key: (*key).to_owned(),
                    title: (*title).to_owned(),
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing trailing cells are empty, extra ones are dropped.
    pub fn push(&mut self, mut row: Vec<Cell>) {
        row.resize(self.columns.len(), Cell::Empty);
        self.rows.push(row);
    }

    /// The cells of a column by its key.
    pub fn column(&self, key: &str) -> Option<Vec<&Cell>> {
        let i = self.columns.iter().position(|c| c.key == key)?;
        Some(self.rows.iter().map(|r| &r[i]).collect())
    }

    /// The first row whose first cell shows `first`.
    pub fn row(&self, first: &str) -> Option<&[Cell]> {
        self.rows
            .iter()
            .find(|r| r.first().is_some_and(|c| c.display() == first))
            .map(Vec::as_slice)
    }

    /// The table for the terminal, numbers right-aligned.
    pub fn to_comfy(&self) -> comfy_table::Table {
        let mut t = comfy_table::Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(self.columns.iter().map(|c| c.title.as_str()));
        for row in &self.rows {
            t.add_row(row.iter().map(Cell::display));
        }
        for (i, column) in t.column_iter_mut().enumerate() {
            let numeric = self.rows.iter().any(|r| r[i].is_number())
                && self
                    .rows
                    .iter()
                    .all(|r| r[i].is_number() || r[i] == Cell::Empty);
            if numeric {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        t
    }

    /// CSV (UTF-8, a header of column keys, one line per row).
    pub fn write_csv_to<W: Write>(&self, out: W) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(self.columns.iter().map(|c| c.key.as_str()))?;
        for row in &self.rows {
            w.write_record(row.iter().map(Cell::display))?;
        }
        w.flush()?;
        Ok(())
    }

    /// The table as CSV text.
    pub fn to_csv(&self) -> String {
        let mut buf = Vec::new();
        // Writing to memory cannot fail.
        let _ = self.write_csv_to(&mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The CSV file for Excel: UTF-8 with a byte-order mark first, without which Chinese Excel reads the
    /// file in the system's GBK and garbles every Chinese name. Other readers skip the mark.
    pub fn write_csv(&self, path: &Path) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::File::create(path).map_err(io)?;
        file.write_all("\u{feff}".as_bytes()).map_err(io)?;
        self.write_csv_to(file).map_err(|source| ExportError::Csv {
            path: path.display().to_string(),
            source,
        })
    }

    /// One object per row, keyed by the column keys: counts are numbers, decimals strings, empty is null.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    let object: Map<String, Value> = self
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(c, cell)| (c.key.clone(), cell.to_json()))
                        .collect();
                    Value::Object(object)
                })
                .collect(),
        )
    }
}

/// Sheet names: at most 31 characters, none of `[]:*?/\`, unique.
fn sheet_name(name: &str, taken: &[String]) -> String {
    let clean: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(31)
        .collect();
    let clean = if clean.trim().is_empty() {
        "sheet".to_owned()
    } else {
        clean
    };
    let mut candidate = clean.clone();
    let mut n = 2;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
        let suffix = format!(" ({n})");
        let stem: String = clean.chars().take(31 - suffix.chars().count()).collect();
        candidate = format!("{stem}{suffix}");
        n += 1;
    }
    candidate
}

/// An XLSX workbook with one sheet per table: a bold header row of column titles, counts and decimals as
/// numbers (decimals formatted with their own places), empty figures as empty cells.
pub fn xlsx_workbook(tables: &[&Table]) -> Result<Workbook, rust_xlsxwriter::XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let mut formats: HashMap<usize, Format> = HashMap::new();
    let mut names = Vec::new();
    for table in tables {
        let name = sheet_name(&table.name, &names);
        names.push(name.clone());
        let sheet = workbook.add_worksheet();
        sheet.set_name(&name)?;
        let mut widths: Vec<usize> = table
            .columns
            .iter()
            .map(|c| c.title.chars().count())
            .collect();
        for (col, column) in table.columns.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, &column.title, &bold)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let col = c as u16;
                match cell {
                    Cell::Empty => {}
                    Cell::Text(s) => {
                        sheet.write_string(r, col, s)?;
                    }
                    Cell::Int(n) => {
                        sheet.write_number(r, col, *n as f64)?;
                    }
                    Cell::Decimal(s) => match s.parse::<f64>() {
                        Ok(v) => {
                            let p = places(s);
                            let format = formats.entry(p).or_insert_with(|| {
                                let pattern = if p == 0 {
                                    "0".to_owned()
                                } else {
                                    format!("0.{}", "0".repeat(p))
                                };
                                Format::new().set_num_format(pattern)
                            });
                            sheet.write_number_with_format(r, col, v, format)?;
                        }
                        Err(_) => {
                            sheet.write_string(r, col, s)?;
                        }
                    },
                }
                // CJK characters are about two columns wide.
                let width: usize = cell
                    .display()
                    .chars()
                    .map(|ch| if ch.is_ascii() { 1 } else { 2 })
                    .sum();
                widths[c] = widths[c].max(width);
            }
        }
        for (c, w) in widths.iter().enumerate() {
            sheet.set_column_width(c as u16, (*w as f64 + 2.0).min(80.0))?;
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    if tables.is_empty() {
        workbook.add_worksheet();
    }
    Ok(workbook)
}

/// Writes [`xlsx_workbook`] to `path`.
pub fn write_xlsx(path: &Path, tables: &[&Table]) -> Result<(), ExportError> {
    let err = |source| ExportError::Xlsx {
        path: path.display().to_string(),
        source,
    };
    xlsx_workbook(tables).map_err(err)?.save(path).map_err(err)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(
            "indicators",
            &[
                ("indicator", "INDICATOR"),
                ("name", "NAME"),
                ("numerator", "NUMERATOR"),
                ("denominator", "DENOMINATOR"),
                ("percent", "PERCENT"),
            ],
        );
        t.push(vec![
            "on_time_completion".into(),
            "按期办结率".into(),
            Cell::Int(52),
            Cell::Int(53),
            Cell::decimal("98.11"),
        ]);
        t.push(vec![
            "backlog_resolution".into(),
            "积案化解率, \"专项\"".into(),
            Cell::Int(0),
            Cell::Int(0),
            Cell::decimal(""),
        ]);
        t.push(vec!["evaluations".into(), "评价".into(), Cell::Int(7)]);
        t
    }

    #[test]
    fn decimals_are_recognised_and_kept_as_sent() {
        assert_eq!(Cell::decimal("98.11"), Cell::Decimal("98.11".into()));
        assert_eq!(Cell::decimal("-25.00"), Cell::Decimal("-25.00".into()));
        assert_eq!(Cell::decimal("2000"), Cell::Decimal("2000".into()));
        assert_eq!(Cell::decimal(""), Cell::Empty);
        assert_eq!(Cell::decimal("1e3"), Cell::Text("1e3".into()));
        assert_eq!(Cell::decimal("12."), Cell::Text("12.".into()));
        assert_eq!(Cell::decimal("-"), Cell::Text("-".into()));
        assert_eq!(places("98.110"), 3);
        assert_eq!(places("7"), 0);
    }

    #[test]
    fn csv_has_keys_exact_figures_and_empty_cells() {
        let csv = sample().to_csv();
        assert_eq!(
            csv,
            "indicator,name,numerator,denominator,percent\n\
             on_time_completion,按期办结率,52,53,98.11\n\
             backlog_resolution,\"积案化解率, \"\"专项\"\"\",0,0,\n\
             evaluations,评价,7,,\n"
        );
    }

    #[test]
    fn json_keeps_counts_as_numbers_and_decimals_as_strings() {
        let json = sample().to_json();
        assert_eq!(json[0]["numerator"], 52);
        assert_eq!(json[0]["percent"], "98.11");
        assert_eq!(json[1]["percent"], Value::Null);
        assert_eq!(json[2]["denominator"], Value::Null);
        assert_eq!(json.as_array().unwrap().len(), 3);
    }

    #[test]
    fn the_terminal_table_shows_titles_and_right_aligns_numbers() {
        let t = sample();
        let text = t.to_comfy().to_string();
        assert!(text.contains("NUMERATOR"), "{text}");
        assert!(text.contains("98.11"), "{text}");
        let line = text.lines().find(|l| l.contains("on_time")).unwrap();
        // Right-aligned: the count ends next to the column border.
        assert!(line.contains(" 52 ┆"), "{line}");
        assert_eq!(
            t.row("evaluations").unwrap()[2],
            Cell::Int(7),
            "short rows are padded"
        );
        assert_eq!(t.rows[2].len(), 5);
    }

    #[test]
    fn sheet_names_are_cleaned_and_unique() {
        let taken = vec!["visits".to_owned()];
        assert_eq!(sheet_name("Visits", &taken), "Visits (2)");
        assert_eq!(sheet_name("a/b:c", &[]), "a_b_c");
        assert_eq!(sheet_name(&"x".repeat(40), &[]).chars().count(), 31);
    }

    /// The XML of one part of an XLSX file.
    fn part(path: &Path, name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut s = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn xlsx_has_one_sheet_per_table_and_numbers_as_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.xlsx");
        let mut other = Table::new("budget", &[("category", "CATEGORY"), ("amount", "AMOUNT")]);
        other.push(vec!["other".into(), Cell::decimal("2000.00")]);
        write_xlsx(&path, &[&sample(), &other]).unwrap();
        let workbook = part(&path, "xl/workbook.xml");
        assert!(workbook.contains(r#"name="indicators""#), "{workbook}");
        assert!(workbook.contains(r#"name="budget""#), "{workbook}");
        let sheet = part(&path, "xl/worksheets/sheet1.xml");
        // C2 = 52 and E2 = 98.11 are numbers (no t="s"); the empty percent of row 3 has no cell.
        assert!(sheet.contains(r#"<c r="C2"><v>52</v></c>"#), "{sheet}");
        assert!(sheet.contains(r#"<v>98.11</v>"#), "{sheet}");
        assert!(!sheet.contains(r#"r="E3""#), "{sheet}");
        assert!(sheet.contains(r#"<c r="A2" t="s">"#), "{sheet}");
        let strings = part(&path, "xl/sharedStrings.xml");
        assert!(strings.contains("按期办结率"));
        assert!(strings.contains("PERCENT"));
        let sheet2 = part(&path, "xl/worksheets/sheet2.xml");
        assert!(sheet2.contains("<v>2000</v>"), "{sheet2}");
        let styles = part(&path, "xl/styles.xml");
        assert!(styles.contains(r#"formatCode="0.00""#), "{styles}");
    }
}
