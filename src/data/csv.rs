//! Numeric tables from CSV files with a header row.
//!
//! Feature columns must hold numbers. The target is either a class label
//! column (strings or integers; classes are numbered in sorted order, numbers
//! sorted numerically) or one or more numeric target columns (regression).
//! Fields may be surrounded by double quotes (a quoted field may contain
//! commas and `""` for a quote); `\r\n` line ends, a UTF-8 byte order mark and
//! blank lines at the end are accepted.
//!
//! Line numbers in errors are 1-based and count the header as line 1.

use std::collections::BTreeSet;
use std::path::Path;

use crate::data::dataset::{Dataset, Standardizer, Targets};
use crate::error::{Error, Result};

/// How to turn a CSV table into a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// The class label column (classification). Leave empty when
    /// `target_columns` is used.
    pub label_column: String,
    /// Numeric target columns (regression, `Targets::Values`). When non-empty,
    /// `label_column` must be empty.
    pub target_columns: Vec<String>,
    /// The feature columns, in this order; `None` means every column that is
    /// not a label or target, in file order.
    pub feature_columns: Option<Vec<String>>,
    /// Standardise each feature to mean 0 and standard deviation 1 (the
    /// statistics are kept in `Dataset::standardizer`).
    pub standardize: bool,
    /// Field separator, `b','` by default.
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> CsvOptions {
        CsvOptions {
            label_column: "label".to_string(),
            target_columns: Vec::new(),
            feature_columns: None,
            standardize: false,
            delimiter: b',',
        }
    }
}

impl CsvOptions {
    /// Classification with `label` as the class column.
    pub fn classification(label: &str) -> CsvOptions {
        CsvOptions {
            label_column: label.to_string(),
            ..CsvOptions::default()
        }
    }

    /// Regression onto the numeric columns `targets`.
    pub fn regression(targets: &[&str]) -> CsvOptions {
        CsvOptions {
            label_column: String::new(),
            target_columns: targets.iter().map(|s| s.to_string()).collect(),
            ..CsvOptions::default()
        }
    }
}

/// Reads a CSV file into a [`Dataset`] with sample shape `[num_features]`.
pub fn read_csv(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Dataset> {
    let path = path.as_ref();
    read_csv_with_features(path, opts).map(|(d, _)| d)
}

/// Like [`read_csv`], and also returns the feature column names in the order
/// of the dataset's features (what a later `predict` must read).
pub fn read_csv_with_features(
    path: impl AsRef<Path>,
    opts: &CsvOptions,
) -> Result<(Dataset, Vec<String>)> {
    let path = path.as_ref();
    let text = read_text(path)?;
    parse_csv(&text, &path.display().to_string(), opts)
}

/// Reads the named feature columns of a CSV file (any other columns are
/// ignored) as a row-major matrix: `rows * columns.len()` values. For
/// predicting on new data; apply the training [`Standardizer`] afterwards.
pub fn read_csv_features(path: impl AsRef<Path>, columns: &[String]) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let text = read_text(path)?;
    let name = path.display().to_string();
    let table = Table::parse(&text, &name, b',')?;
    let idx = columns
        .iter()
        .map(|c| table.column(c, &name))
        .collect::<Result<Vec<_>>>()?;
    let mut x = Vec::with_capacity(table.rows.len() * idx.len());
    for row in &table.rows {
        for (&j, c) in idx.iter().zip(columns) {
            x.push(number(&row.fields[j], &name, row.line, c)?);
        }
    }
    Ok(x)
}

fn read_text(path: &Path) -> Result<String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(format!("{name}: file not found"))
        } else {
            Error::new(format!("{name}: cannot read: {e}"))
        }
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::new(format!(
            "{name}:{line}: not valid UTF-8 text (byte offset {at}); expected a CSV text file"
        ))
    })
}

/// Parses CSV text; `source` names it in errors (usually the file path).
/// Returns the dataset and the feature column names.
pub fn parse_csv(text: &str, source: &str, opts: &CsvOptions) -> Result<(Dataset, Vec<String>)> {
    let table = Table::parse(text, source, opts.delimiter)?;
    let has_label = !opts.label_column.is_empty();
    let has_targets = !opts.target_columns.is_empty();
    if has_label && has_targets {
        crate::bail!(
            "{source}: set either a label column ('{}') or target columns ({:?}), not both",
            opts.label_column,
            opts.target_columns
        );
    }
    if !has_label && !has_targets {
        crate::bail!(
            "{source}: no label column or target columns given; say which column to predict"
        );
    }
    let label_idx = if has_label {
        Some(table.column(&opts.label_column, source)?)
    } else {
        None
    };
    let target_idx = opts
        .target_columns
        .iter()
        .map(|c| table.column(c, source))
        .collect::<Result<Vec<_>>>()?;
    for (k, &j) in target_idx.iter().enumerate() {
        if target_idx[..k].contains(&j) {
            crate::bail!(
                "{source}: target column '{}' is listed twice",
                table.header[j]
            );
        }
    }
    let is_target = |j: usize| Some(j) == label_idx || target_idx.contains(&j);
    let feature_idx: Vec<usize> = match &opts.feature_columns {
        Some(cols) => {
            let mut idx = Vec::with_capacity(cols.len());
            for c in cols {
                let j = table.column(c, source)?;
                if is_target(j) {
                    crate::bail!(
                        "{source}: column '{c}' is both a feature and the prediction target"
                    );
                }
                if idx.contains(&j) {
                    crate::bail!("{source}: feature column '{c}' is listed twice");
                }
                idx.push(j);
            }
            idx
        }
        None => (0..table.header.len()).filter(|&j| !is_target(j)).collect(),
    };
    if feature_idx.is_empty() {
        crate::bail!(
            "{source}: no feature columns: the header has only {:?}",
            table.header
        );
    }
    let feature_names: Vec<String> = feature_idx
        .iter()
        .map(|&j| table.header[j].clone())
        .collect();

    let nf = feature_idx.len();
    let mut x = Vec::with_capacity(table.rows.len() * nf);
    for row in &table.rows {
        for &j in &feature_idx {
            x.push(number(&row.fields[j], source, row.line, &table.header[j])?);
        }
    }

    let (targets, class_names) = if let Some(lj) = label_idx {
        let (classes, names) = class_indices(&table, lj);
        (Targets::Classes(classes), names)
    } else {
        let mut values = Vec::with_capacity(table.rows.len() * target_idx.len());
        for row in &table.rows {
            for &j in &target_idx {
                values.push(number(&row.fields[j], source, row.line, &table.header[j])?);
            }
        }
        (
            Targets::Values {
                values,
                dim: target_idx.len(),
            },
            Vec::new(),
        )
    };

    let mut ds = Dataset::new(x, vec![nf], targets, class_names).map_err(|e| e.context(source))?;
    if opts.standardize {
        let s = Standardizer::fit(&ds.x, nf);
        s.apply(&mut ds.x);
        ds.standardizer = Some(s);
    }
    Ok((ds, feature_names))
}

/// Class names of column `j` in sorted order (numerically if every name is a
/// number, else by string) and each row's class index.
fn class_indices(table: &Table, j: usize) -> (Vec<usize>, Vec<String>) {
    let set: BTreeSet<&str> = table.rows.iter().map(|r| r.fields[j].as_str()).collect();
    let mut names: Vec<&str> = set.into_iter().collect();
    let nums: Option<Vec<f64>> = names
        .iter()
        .map(|s| s.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    if let Some(nums) = nums {
        let mut pairs: Vec<(f64, &str)> = nums.into_iter().zip(names).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        names = pairs.into_iter().map(|p| p.1).collect();
    }
    let classes = table
        .rows
        .iter()
        .map(|r| {
            names
                .iter()
                .position(|&n| n == r.fields[j])
                .expect("name collected above")
        })
        .collect();
    (classes, names.into_iter().map(String::from).collect())
}

/// A finite number, or an error naming file, line, column and the text.
fn number(text: &str, source: &str, line: usize, column: &str) -> Result<f32> {
    match text.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(Error::new(format!(
            "{source}:{line}: column '{column}': expected a finite number, found '{text}'"
        ))),
        Err(_) if text.is_empty() => Err(Error::new(format!(
            "{source}:{line}: column '{column}': expected a number, found an empty field"
        ))),
        Err(_) => Err(Error::new(format!(
            "{source}:{line}: column '{column}': expected a number, found '{text}'"
        ))),
    }
}

/// One data row and its 1-based line number.
struct Row {
    line: usize,
    fields: Vec<String>,
}

/// The header and rows of a CSV text, every row checked to have as many
/// fields as the header.
struct Table {
    header: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    fn parse(text: &str, source: &str, delim: u8) -> Result<Table> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        // Ignore blank lines at the end only; a blank line in the middle is a
        // (ragged) row.
        let end = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |i| i + 1);
        if end == 0 {
            crate::bail!("{source}: empty file; expected a header row such as 'x1,x2,label'");
        }
        let header = split_fields(lines[0], delim, source, 1)?;
        for (k, h) in header.iter().enumerate() {
            if h.is_empty() {
                crate::bail!("{source}:1: header column {} has no name", k + 1);
            }
            if header[..k].contains(h) {
                crate::bail!("{source}:1: column name '{h}' appears twice in the header");
            }
        }
        let mut rows = Vec::with_capacity(end - 1);
        for (i, l) in lines[1..end].iter().enumerate() {
            let line = i + 2;
            let fields = split_fields(l, delim, source, line)?;
            if fields.len() != header.len() {
                crate::bail!(
                    "{source}:{line}: expected {} fields (as in the header), found {}",
                    header.len(),
                    fields.len()
                );
            }
            rows.push(Row { line, fields });
        }
        if rows.is_empty() {
            crate::bail!("{source}: no data rows after the header");
        }
        Ok(Table { header, rows })
    }

    fn column(&self, name: &str, source: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            Error::new(format!(
                "{source}:1: no column named '{name}'; the header has {:?}",
                self.header
            ))
        })
    }
}

/// Splits one line into trimmed fields, stripping surrounding double quotes
/// (inside quotes the delimiter is literal and `""` is a quote).
fn split_fields(line: &str, delim: u8, source: &str, line_no: usize) -> Result<Vec<String>> {
    let delim = delim as char;
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        // One field.
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => crate::bail!(
                        "{source}:{line_no}: field {} has an opening double quote but no closing one",
                        fields.len() + 1
                    ),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.peek() {
                None => {}
                Some(&c) if c == delim => {}
                Some(&c) => crate::bail!(
                    "{source}:{line_no}: field {}: unexpected '{c}' after a closing double quote",
                    fields.len() + 1
                ),
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == delim {
                    break;
                }
                field.push(c);
                chars.next();
            }
            let t = field.trim_end().len();
            field.truncate(t);
        }
        fields.push(field);
        match chars.next() {
            Some(_) => continue, // the delimiter
            None => break,
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::tests::TempFile;

    fn parse(text: &str, opts: &CsvOptions) -> Result<(Dataset, Vec<String>)> {
        parse_csv(text, "t.csv", opts)
    }

    fn perr(text: &str, opts: &CsvOptions) -> String {
        parse(text, opts).unwrap_err().message().to_string()
    }

    #[test]
    fn classification_happy_path() {
        let text = "red,green,blue,volume,label\r\n\
                    200,30,40,12.5,flower\r\n\
                    40,180,30,3,leaf\r\n\
                    \"210\", 200 ,20,8,\"flower\"\r\n\
                    \r\n\
                    \r\n";
        let (d, names) = parse(text, &CsvOptions::classification("label")).unwrap();
        assert_eq!(names, vec!["red", "green", "blue", "volume"]);
        assert_eq!(d.len(), 3);
        assert_eq!(d.sample_shape, vec![4]);
        assert_eq!(
            d.x,
            vec![200.0, 30.0, 40.0, 12.5, 40.0, 180.0, 30.0, 3.0, 210.0, 200.0, 20.0, 8.0]
        );
        assert_eq!(d.class_names, vec!["flower", "leaf"]);
        assert_eq!(d.targets, Targets::Classes(vec![0, 1, 0]));
        assert_eq!(d.num_classes(), 2);
        assert!(d.standardizer.is_none());
    }

    #[test]
    fn integer_labels_sort_numerically() {
        let text = "a,b,y\n1,2,10\n3,4,9\n5,6,2\n7,8,10\n";
        let (d, _) = parse(text, &CsvOptions::classification("y")).unwrap();
        assert_eq!(d.class_names, vec!["2", "9", "10"]);
        assert_eq!(d.targets, Targets::Classes(vec![2, 1, 0, 2]));
    }

    #[test]
    fn label_column_anywhere_and_feature_selection() {
        let text = "kind,x,id,y\ncat,1,100,2\ndog,3,101,4\n";
        let (d, names) = parse(text, &CsvOptions::classification("kind")).unwrap();
        assert_eq!(names, vec!["x", "id", "y"]);
        assert_eq!(d.x, vec![1.0, 100.0, 2.0, 3.0, 101.0, 4.0]);
        let opts = CsvOptions {
            feature_columns: Some(vec!["y".into(), "x".into()]),
            ..CsvOptions::classification("kind")
        };
        let (d, names) = parse(text, &opts).unwrap();
        assert_eq!(names, vec!["y", "x"]);
        assert_eq!(d.x, vec![2.0, 1.0, 4.0, 3.0]);
        // A feature that is also the label.
        let opts = CsvOptions {
            feature_columns: Some(vec!["kind".into()]),
            ..CsvOptions::classification("kind")
        };
        assert!(perr(text, &opts).contains("both a feature and the prediction target"));
    }

    #[test]
    fn regression_targets() {
        let text = "x1,x2,t1,t2\n1,2,0.5,-1\n3,4,1.5,-2\n";
        let (d, names) = parse(text, &CsvOptions::regression(&["t1", "t2"])).unwrap();
        assert_eq!(names, vec!["x1", "x2"]);
        assert_eq!(d.x, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            d.targets,
            Targets::Values {
                values: vec![0.5, -1.0, 1.5, -2.0],
                dim: 2
            }
        );
        assert!(d.class_names.is_empty());
        assert_eq!(d.target_dim(), 2);
        let e = perr("x,t\n1,2\n3,high\n", &CsvOptions::regression(&["t"]));
        assert_eq!(e, "t.csv:3: column 't': expected a number, found 'high'");
        let both = CsvOptions {
            target_columns: vec!["t".into()],
            ..CsvOptions::classification("x")
        };
        assert!(perr("x,t\n1,2\n", &both).contains("not both"));
        let neither = CsvOptions {
            label_column: String::new(),
            ..CsvOptions::default()
        };
        assert!(perr("x,t\n1,2\n", &neither).contains("no label column"));
    }

    #[test]
    fn standardize_stores_statistics() {
        let text = "a,b,label\n1,7,x\n2,7,y\n3,7,x\n";
        let opts = CsvOptions {
            standardize: true,
            ..CsvOptions::default()
        };
        let (d, _) = parse(text, &opts).unwrap();
        let s = d.standardizer.clone().unwrap();
        assert_eq!(s.mean, vec![2.0, 7.0]);
        assert!((s.std[0] - (2.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.std[1], 1.0, "constant column: std 0 -> 1");
        let k = (1.5f32).sqrt();
        let want = [-k, 0.0, 0.0, 0.0, k, 0.0];
        for (a, b) in d.x.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{:?}", d.x);
        }
        // The same transform applies to a new row at predict time.
        let mut row = vec![4.0, 9.0];
        s.apply(&mut row);
        assert!((row[0] - 2.0 * k).abs() < 1e-5 && row[1] == 2.0);
    }

    #[test]
    fn non_numeric_feature_names_file_line_column_and_text() {
        let text = "red,green,label\n1,2,a\n3,lots,b\n";
        assert_eq!(
            perr(text, &CsvOptions::default()),
            "t.csv:3: column 'green': expected a number, found 'lots'"
        );
        let e = perr("red,green,label\n1,,a\n", &CsvOptions::default());
        assert_eq!(
            e,
            "t.csv:2: column 'green': expected a number, found an empty field"
        );
        let e = perr("red,green,label\n1,inf,a\n", &CsvOptions::default());
        assert_eq!(
            e,
            "t.csv:2: column 'green': expected a finite number, found 'inf'"
        );
        let e = perr("red,green,label\n1,NaN,a\n", &CsvOptions::default());
        assert!(e.contains("finite number, found 'NaN'"), "{e}");
    }

    #[test]
    fn ragged_rows() {
        let e = perr("a,b,label\n1,2,x\n1,2\n", &CsvOptions::default());
        assert_eq!(e, "t.csv:3: expected 3 fields (as in the header), found 2");
        let e = perr("a,b,label\n1,2,x,9\n", &CsvOptions::default());
        assert_eq!(e, "t.csv:2: expected 3 fields (as in the header), found 4");
        // A blank line in the middle is a ragged row, not silently skipped.
        let e = perr("a,b,label\n1,2,x\n\n3,4,y\n", &CsvOptions::default());
        assert_eq!(e, "t.csv:3: expected 3 fields (as in the header), found 1");
    }

    #[test]
    fn quoting() {
        let text = "\"a\",\"b, with comma\",label\n1,2,\"say \"\"hi\"\"\"\n3,4,plain\n";
        let (d, names) = parse(text, &CsvOptions::default()).unwrap();
        assert_eq!(names, vec!["a", "b, with comma"]);
        assert_eq!(d.class_names, vec!["plain", "say \"hi\""]);
        let e = perr("a,label\n\"1,x\n", &CsvOptions::default());
        assert!(
            e.contains("t.csv:2: field 1 has an opening double quote but no closing one"),
            "{e}"
        );
        let e = perr("a,label\n\"1\"2,x\n", &CsvOptions::default());
        assert!(
            e.contains("t.csv:2: field 1: unexpected '2' after a closing double quote"),
            "{e}"
        );
    }

    #[test]
    fn header_problems() {
        assert!(perr("", &CsvOptions::default()).contains("empty file"));
        assert!(perr("\n\n", &CsvOptions::default()).contains("empty file"));
        assert_eq!(
            perr("a,label\n", &CsvOptions::default()),
            "t.csv: no data rows after the header"
        );
        let e = perr("a,b\n1,2\n", &CsvOptions::classification("class"));
        assert_eq!(
            e,
            "t.csv:1: no column named 'class'; the header has [\"a\", \"b\"]"
        );
        assert!(perr("a,a,label\n1,2,x\n", &CsvOptions::default()).contains("'a' appears twice"));
        assert!(perr("a,,label\n1,2,x\n", &CsvOptions::default())
            .contains("header column 2 has no name"));
        assert!(perr("label\nx\n", &CsvOptions::default()).contains("no feature columns"));
        // A byte order mark does not become part of the first name.
        let (_, names) = parse("\u{feff}a,label\n1,x\n", &CsvOptions::default()).unwrap();
        assert_eq!(names, vec!["a"]);
    }

    #[test]
    fn semicolon_delimiter() {
        let opts = CsvOptions {
            delimiter: b';',
            ..CsvOptions::default()
        };
        let (d, _) = parse("a;b;label\n1.5;2;x\n", &opts).unwrap();
        assert_eq!(d.x, vec![1.5, 2.0]);
    }

    #[test]
    fn files_on_disk() {
        let f = TempFile::new("ok.csv", b"a,b,label\n1,2,x\n3,4,y\n");
        let d = read_csv(&f.0, &CsvOptions::default()).unwrap();
        assert_eq!(d.len(), 2);
        let x = read_csv_features(&f.0, &["b".to_string(), "a".to_string()]).unwrap();
        assert_eq!(x, vec![2.0, 1.0, 4.0, 3.0]);
        let e = read_csv_features(&f.0, &["c".to_string()]).unwrap_err();
        assert!(e.message().contains("no column named 'c'"), "{e}");
        // Errors name the real path.
        let bad = TempFile::new("bad.csv", b"a,label\n1,x\nz,y\n");
        let e = read_csv(&bad.0, &CsvOptions::default()).unwrap_err();
        assert_eq!(
            e.message(),
            format!(
                "{}:3: column 'a': expected a number, found 'z'",
                bad.0.display()
            )
        );
        let missing = std::env::temp_dir().join("nerve-test-no-such.csv");
        let e = read_csv(&missing, &CsvOptions::default()).unwrap_err();
        assert_eq!(
            e.message(),
            format!("{}: file not found", missing.display())
        );
        let bin = TempFile::new("bin.csv", b"a,label\n1,\xff\n");
        let e = read_csv(&bin.0, &CsvOptions::default()).unwrap_err();
        assert!(e.message().contains(":2: not valid UTF-8"), "{e}");
    }

    #[test]
    fn shipped_leaf_flower_example() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/leaf-flower.csv");
        let opts = CsvOptions {
            standardize: true,
            ..CsvOptions::default()
        };
        let (d, names) = read_csv_with_features(&p, &opts).unwrap();
        assert_eq!(names, vec!["red", "green", "blue", "volume"]);
        assert_eq!(d.class_names, vec!["flower", "leaf"]);
        assert_eq!(d.len(), 200);
        assert_eq!(d.class_counts(), vec![100, 100]);
    }
}
