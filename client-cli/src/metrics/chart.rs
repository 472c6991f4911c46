//! The bar chart of `xf report --chart`: visits by level for each month of a year, drawn with plotters as
//! SVG or PNG.
//!
//! Text is laid out (and, in a PNG, drawn) with DejaVu Sans, built into the binary, so that no system font
//! library or font file is needed. That font has no Chinese characters, so the chart's labels are English.

use std::{path::Path, str::FromStr, sync::OnceLock};

use plotters::{
    coord::Shift,
    prelude::*,
    style::{FontStyle, register_font},
};

use super::monthly::{LEVELS, MonthlyVisits};

/// The file kinds a chart is written as, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Svg,
    Png,
}

impl ChartFormat {
    pub fn from_path(path: &Path) -> Result<ChartFormat, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(ChartFormat::Svg),
            Some("png") => Ok(ChartFormat::Png),
            _ => Err(format!(
                "{}: the chart is written as .svg or .png",
                path.display()
            )),
        }
    }
}

/// What the bars count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Measure {
    /// Person-visits (人次).
    #[default]
    Persons,
    /// Batches (批次).
    Batches,
}

impl FromStr for Measure {
    type Err = String;

    fn from_str(s: &str) -> Result<Measure, String> {
        match s.trim() {
            "persons" => Ok(Measure::Persons),
            "batches" => Ok(Measure::Batches),
            other => Err(format!("{other:?}: persons or batches")),
        }
    }
}

impl Measure {
    fn label(self) -> &'static str {
        match self {
            Measure::Persons => "person-visits",
            Measure::Batches => "batches",
        }
    }
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

const SIZE: (u32, u32) = (1000, 560);

fn register_fonts() -> Result<(), String> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        let regular = dejavu::sans::regular();
        let bold = dejavu::sans::bold();
        ["sans-serif", "serif", "monospace"].iter().all(|family| {
            register_font(family, FontStyle::Normal, regular).is_ok()
                && register_font(family, FontStyle::Bold, bold).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err("the built-in chart font could not be loaded".into())
    }
}

/// The bars: for each month, the measure at each level (in [`LEVELS`] order).
pub fn bar_values(data: &MonthlyVisits, measure: Measure) -> Vec<[u64; 4]> {
    data.months
        .iter()
        .map(|m| {
            let mut bars = [0u64; 4];
            for (bar, f) in bars.iter_mut().zip(&m.levels) {
                let figure = match measure {
                    Measure::Persons => &f.persons,
                    Measure::Batches => &f.batches,
                };
                *bar = figure
                    .as_ref()
                    .map_or(0, |f| u64::try_from(f.value).unwrap_or(0));
            }
            bars
        })
        .collect()
}

/// Draws the chart of `data` into `path` as `format`.
pub fn draw_monthly_visits(
    path: &Path,
    format: ChartFormat,
    data: &MonthlyVisits,
    measure: Measure,
) -> Result<(), String> {
    register_fonts()?;
    let fail = |e: String| format!("drawing {}: {e}", path.display());
    match format {
        ChartFormat::Svg => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            draw(&root, data, measure).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        ChartFormat::Png => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            draw(&root, data, measure).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &MonthlyVisits,
    measure: Measure,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let values = bar_values(data, measure);
    let max = values.iter().flatten().copied().max().unwrap_or(0);
    // Room above the highest bar for the legend.
    let top = (max + max / 3 + 1).max(4);
    root.fill(&WHITE).map_err(err)?;
    let scope = if data.org_code.is_empty() {
        String::new()
    } else {
        format!(", {}", data.org_code)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Visits by level and month, {}{scope} ({})",
                data.year,
                measure.label()
            ),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..11.5f64, 0u64..top)
        .map_err(err)?;
    let year = data.year;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(12)
        .x_label_formatter(&|x: &f64| {
            let m = x.round();
            if (x - m).abs() < 1e-6 && (0.0..12.0).contains(&m) {
                format!("{year}-{:02}", m as i32 + 1)
            } else {
                String::new()
            }
        })
        .y_desc(measure.label())
        .x_desc("month")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (i, (key, _)) in LEVELS.iter().enumerate() {
        let color = COLORS[i];
        chart
            .draw_series(values.iter().enumerate().map(|(m, bars)| {
                let x0 = m as f64 - 0.4 + i as f64 * 0.2;
                Rectangle::new([(x0, 0), (x0 + 0.2, bars[i])], color.filled())
            }))
            .map_err(err)?
            .label(*key)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::{Figure, VisitFigures, YearMonth};

    use super::*;
    use crate::metrics::monthly::MonthVisits;

    fn data() -> MonthlyVisits {
        let figure = |v: i64| {
            Some(Figure {
                value: v,
                ..Default::default()
            })
        };
        MonthlyVisits {
            year: 2020,
            org_code: String::new(),
            months: (1..=12)
                .map(|month| MonthVisits {
                    month: YearMonth { year: 2020, month },
                    levels: (0..4)
                        .map(|level| VisitFigures {
                            batches: figure(i64::from(month % 3) + level),
                            persons: figure(2 * i64::from(month) + level),
                            ..Default::default()
                        })
                        .collect(),
                    total: VisitFigures::default(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        assert_eq!(
            ChartFormat::from_path(Path::new("v.SVG")),
            Ok(ChartFormat::Svg)
        );
        assert_eq!(
            ChartFormat::from_path(Path::new("a/v.png")),
            Ok(ChartFormat::Png)
        );
        let err = ChartFormat::from_path(Path::new("v.jpg")).unwrap_err();
        assert!(err.contains(".svg or .png"), "{err}");
        assert_eq!("batches".parse(), Ok(Measure::Batches));
        assert!("people".parse::<Measure>().is_err());
    }

    #[test]
    fn bars_take_the_measure_of_each_level() {
        let bars = bar_values(&data(), Measure::Persons);
        assert_eq!(bars.len(), 12);
        assert_eq!(bars[0], [2, 3, 4, 5]);
        assert_eq!(bar_values(&data(), Measure::Batches)[2], [0, 1, 2, 3]);
    }

    #[test]
    fn draws_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("visits.svg");
        draw_monthly_visits(&svg, ChartFormat::Svg, &data(), Measure::Persons).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..100.min(text.len())]);
        assert!(text.contains("Visits by level and month, 2020 (person-visits)"));
        assert!(text.contains("2020-12") && text.contains("national"));
        // 48 bars (one of them zero-high is still a rect), plus the legend's and the background.
        assert!(text.matches("<rect").count() >= 48, "{text}");
        let png = dir.path().join("visits.png");
        draw_monthly_visits(&png, ChartFormat::Png, &data(), Measure::Batches).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() > 5_000, "a real picture: {} bytes", bytes.len());
    }
}
