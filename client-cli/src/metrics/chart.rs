//! The bar chart of `xf report --chart`: visits by level for each month of a year, drawn with plotters as
//! SVG or PNG.
//!
//! The labels are Chinese when a CJK font is found: `XF_CJK_FONT` (a .ttf/.otf/.ttc file), else the files of
//! the Debian packages `fonts-wqy-microhei`, `fonts-wqy-zenhei` or `fonts-noto-cjk`. Without one the chart is
//! laid out with DejaVu Sans, built into the binary, and labelled in English, since a PNG drawn with a font
//! that lacks the characters would show empty boxes. Every non-zero value is visible: its bar is at least a
//! sliver high and carries its number. Only the months of the data are drawn (the period asked for).

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

/// Where the Debian packages put their CJK fonts, in order of preference.
const CJK_FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
];

/// The bytes of the CJK font to use, if any; read once and kept for the process (plotters wants `'static`).
fn cjk_font() -> Option<&'static [u8]> {
    static FONT: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var("XF_CJK_FONT")
            .ok()
            .into_iter()
            .chain(CJK_FONTS.iter().map(|p| (*p).to_owned()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                return Some(&*Box::leak(bytes.into_boxed_slice()));
            }
        }
        None
    })
}

/// Registers the fonts; `true` when the labels can be Chinese.
fn register_fonts() -> Result<bool, String> {
    static DONE: OnceLock<Option<bool>> = OnceLock::new();
    let done = *DONE.get_or_init(|| {
        let cjk = cjk_font().filter(|font| {
            ["sans-serif", "serif", "monospace"].iter().all(|family| {
                register_font(family, FontStyle::Normal, font).is_ok()
                    && register_font(family, FontStyle::Bold, font).is_ok()
            })
        });
        if cjk.is_some() {
            return Some(true);
        }
        let regular = dejavu::sans::regular();
        let bold = dejavu::sans::bold();
        let ok = ["sans-serif", "serif", "monospace"].iter().all(|family| {
            register_font(family, FontStyle::Normal, regular).is_ok()
                && register_font(family, FontStyle::Bold, bold).is_ok()
        });
        ok.then_some(false)
    });
    done.ok_or_else(|| "the built-in chart font could not be loaded".into())
}

/// Whether the chart's labels will be Chinese on this machine (a CJK font was found).
pub fn chinese_labels() -> bool {
    register_fonts().unwrap_or(false)
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
    let chinese = register_fonts()?;
    let fail = |e: String| format!("drawing {}: {e}", path.display());
    match format {
        ChartFormat::Svg => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            draw(&root, data, measure, chinese).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        ChartFormat::Png => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            draw(&root, data, measure, chinese).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}

/// The lowest bar of a non-zero value, as a share of the axis: a 1 beside a 500 stays visible.
const MIN_BAR: f64 = 0.012;

/// The drawn height of `value` on an axis up to `top`.
pub fn bar_height(value: u64, top: f64) -> f64 {
    if value == 0 {
        0.0
    } else {
        (value as f64).max(top * MIN_BAR)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &MonthlyVisits,
    measure: Measure,
    chinese: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let values = bar_values(data, measure);
    let n = values.len().max(1);
    let max = values.iter().flatten().copied().max().unwrap_or(0);
    // Room above the highest bar for its number and the legend.
    let top = ((max + max / 3 + 1).max(4)) as f64;
    root.fill(&WHITE).map_err(err)?;
    let first = data.months.first().map(|m| m.month);
    let last = data.months.last().map(|m| m.month);
    let span = match (first, last) {
        (Some(a), Some(b)) => format!("{}-{:02}..{}-{:02}", a.year, a.month, b.year, b.month),
        _ => data.year.to_string(),
    };
    let scope = if data.org_code.is_empty() {
        String::new()
    } else {
        format!(", {}", data.org_code)
    };
    let (caption, unit, x_desc) = if chinese {
        let unit = match measure {
            Measure::Persons => "人次",
            Measure::Batches => "批次",
        };
        (
            format!("各层级来访{unit}（按月）{span}{scope}"),
            unit,
            "月份",
        )
    } else {
        (
            format!(
                "Visits by level and month, {span}{scope} ({})",
                measure.label()
            ),
            measure.label(),
            "month",
        )
    };
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
        .map_err(err)?;
    let months: Vec<String> = data
        .months
        .iter()
        .map(|m| format!("{}-{:02}", m.month.year, m.month.month))
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x: &f64| {
            let m = x.round();
            if (x - m).abs() < 1e-6 && m >= 0.0 {
                months.get(m as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y: &f64| format!("{}", y.round() as i64))
        .y_desc(unit)
        .x_desc(x_desc)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (i, (key, name)) in LEVELS.iter().enumerate() {
        let color = COLORS[i];
        let label = if chinese { *name } else { *key };
        chart
            .draw_series(values.iter().enumerate().map(|(m, bars)| {
                let x0 = m as f64 - 0.4 + i as f64 * 0.2;
                Rectangle::new(
                    [(x0, 0.0), (x0 + 0.2, bar_height(bars[i], top))],
                    color.filled(),
                )
            }))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        // The number over each non-zero bar: a sliver alone does not say how much.
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b[i] > 0)
                    .map(|(m, bars)| {
                        let x = m as f64 - 0.4 + i as f64 * 0.2;
                        Text::new(
                            bars[i].to_string(),
                            (x, bar_height(bars[i], top) + top * 0.01),
                            ("sans-serif", 11),
                        )
                    }),
            )
            .map_err(err)?;
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
    fn a_small_value_beside_a_large_one_is_still_visible() {
        assert_eq!(bar_height(0, 700.0), 0.0);
        assert!(bar_height(1, 700.0) >= 8.0, "{}", bar_height(1, 700.0));
        assert_eq!(bar_height(500, 700.0), 500.0);
    }

    #[test]
    fn only_the_months_of_the_period_are_drawn() {
        let mut d = data();
        d.months.truncate(3);
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("q1.svg");
        draw_monthly_visits(&svg, ChartFormat::Svg, &d, Measure::Persons).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.contains("2020-03") && !text.contains("2020-04"),
            "{text}"
        );
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
        if chinese_labels() {
            assert!(
                text.contains("各层级来访人次") && text.contains("进京"),
                "{text}"
            );
        } else {
            assert!(text.contains("Visits by level and month, 2020-01..2020-12 (person-visits)"));
            assert!(text.contains("national"));
        }
        assert!(text.contains("2020-12"));
        // 48 bars (one of them zero-high is still a rect), plus the legend's and the background.
        assert!(text.matches("<rect").count() >= 48, "{text}");
        let png = dir.path().join("visits.png");
        draw_monthly_visits(&png, ChartFormat::Png, &data(), Measure::Batches).unwrap();
        // To look at it: XF_KEEP_CHART=/tmp/c.png cargo test -p xinfang-client chart
        if let Ok(keep) = std::env::var("XF_KEEP_CHART") {
            std::fs::copy(&png, keep).unwrap();
        }
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() > 5_000, "a real picture: {} bytes", bytes.len());
    }
}
