//! `xf fund budget …`: the special fund's budgets, online. The county office enters each approval document
//! (预算批复) as it comes: an amount for a category of a year, a reduction, or a reallocation between two
//! categories of the year (调剂); `list` shows what each category has left. Fund requests draw on these.

use anyhow::{Result, anyhow};
use chrono::Utc;
use clap::Subcommand;
use serde_json::json;
use xinfang_client::text;
use xinfang_proto::v1::{Budget, CreateBudgetRequest, ListBudgetsRequest};

use super::{
    common::{Ask, print_json, table},
    fund::Funds,
    online::status_error,
};

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// 预算批复: an approval document's amount for a category of a year (negative: a reduction), or with
    /// --from a reallocation (调剂) from another category of the same year.
    Add {
        /// Default: this year.
        #[arg(long)]
        year: Option<i32>,
        /// special_difficult (特殊疑难信访问题专项), other_key_work (其他重点信访工作经费), other.
        #[arg(long)]
        category: Option<String>,
        /// The document, e.g. 盐财资行〔2026〕62号.
        #[arg(long)]
        document: Option<String>,
        /// Yuan, at most two decimals; negative reduces: 300000.00, -2000.00.
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        /// Reallocation: the category of the same year the amount comes from.
        #[arg(long)]
        from: Option<String>,
        /// When the document was issued (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// The budgets by year and category: appropriated, committed (approved, not paid), paid, available.
    List {
        /// Default: every year.
        #[arg(long)]
        year: Option<i32>,
        #[arg(long)]
        json: bool,
    },
}

const ADD_FLAGS: &[(&str, &str)] = &[("from_category", "--from"), ("occurred_at", "--at")];

pub async fn run(funds: &mut Funds, ask: &Ask, command: BudgetCommand) -> Result<()> {
    match command {
        BudgetCommand::Add {
            year,
            category,
            document,
            amount,
            from,
            at,
        } => {
            let year = year.unwrap_or_else(super::fund::this_year);
            let occurred_at = at
                .map(|t| text::parse_time(&t, Utc::now()).map_err(|e| anyhow!("--at: {e}")))
                .transpose()?;
            let request = CreateBudgetRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                year,
                category: ask.text(category, "Category (预算类别)", true)?,
                document: ask.text(document, "Document (批复文号)", true)?,
                amount: ask.text(amount, "Amount, yuan (金额)", true)?,
                from_category: from.unwrap_or_default(),
                occurred_at,
            };
            let budget = funds
                .create_budget(request)
                .await
                .map_err(|s| status_error(s, ADD_FLAGS))?
                .into_inner();
            println!("done (online): {}", line(&budget));
        }
        BudgetCommand::List { year, json } => {
            let all = list(funds, year.unwrap_or(0)).await?;
            if json {
                let items: Vec<_> = all
                    .iter()
                    .map(|b| {
                        json!({
                            "year": b.year, "category": b.category, "category_name": b.category_name,
                            "appropriated": b.appropriated, "committed": b.committed,
                            "disbursed": b.disbursed, "available": b.available,
                            "documents": b.appropriations.iter().map(|a| json!({
                                "document": a.document, "amount": a.amount,
                                "counterpart_category": a.counterpart_category,
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                return print_json(&json!(items));
            }
            let mut t = table(&[
                "年度",
                "类别 CATEGORY",
                "预算 APPROPRIATED",
                "已批未付 COMMITTED",
                "已支付 PAID",
                "可用 AVAILABLE",
                "批复文件 DOCUMENTS",
            ]);
            for b in &all {
                let documents: Vec<String> = b
                    .appropriations
                    .iter()
                    .map(|a| format!("{} {}", a.document, a.amount))
                    .collect();
                t.add_row(vec![
                    b.year.to_string(),
                    b.category_name.clone(),
                    b.appropriated.clone(),
                    b.committed.clone(),
                    b.disbursed.clone(),
                    b.available.clone(),
                    documents.join("; "),
                ]);
            }
            println!("{t}");
            println!("{} budget(s)", all.len());
        }
    }
    Ok(())
}

fn line(b: &Budget) -> String {
    format!(
        "{} {}: 预算 {} 元, 已批未付 {}, 已支付 {}, 可用 {}",
        b.year, b.category_name, b.appropriated, b.committed, b.disbursed, b.available
    )
}

async fn list(funds: &mut Funds, year: i32) -> Result<Vec<Budget>> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = funds
            .list_budgets(ListBudgetsRequest {
                year,
                page_size: 500,
                page_token,
            })
            .await
            .map_err(|s| status_error(s, &[]))?
            .into_inner();
        out.extend(page.budgets);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}
