//! `analytics.*`: four read-only reports over the tenant's data.

use mcp_server::{Args, Json, McpRouter, State, Tool, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Db, Tenant};

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

async fn revenue_report(Args(_): Args<NoArgs>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT substr(issued_at, 1, 7) AS month, COUNT(*), SUM(amount_cents) FROM invoices
         WHERE tenant = ? AND status = 'paid' GROUP BY month ORDER BY month",
    )
    .bind(t.id.as_str())
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    let total: i64 = rows.iter().map(|r| r.2).sum();
    let months: Vec<Value> =
        rows.into_iter().map(|(m, n, c)| json!({"month": m, "invoices": n, "revenue_cents": c})).collect();
    Ok(Json(json!({ "months": months, "total_revenue_cents": total })))
}

async fn customer_stats(Args(_): Args<NoArgs>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT tier, COUNT(*) FROM customers WHERE tenant = ? GROUP BY tier ORDER BY tier")
            .bind(t.id.as_str())
            .fetch_all(&db.0.0)
            .await
            .map_err(|e| t.db_error(e))?;
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let by_tier: serde_json::Map<String, Value> =
        rows.into_iter().map(|(tier, n)| (tier, json!(n))).collect();
    Ok(Json(json!({ "customers": total, "by_tier": by_tier })))
}

async fn ticket_stats(Args(_): Args<NoArgs>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT status, priority, COUNT(*) FROM tickets WHERE tenant = ? GROUP BY status, priority ORDER BY status, priority")
            .bind(t.id.as_str())
            .fetch_all(&db.0.0)
            .await
            .map_err(|e| t.db_error(e))?;
    let rows: Vec<Value> =
        rows.into_iter().map(|(s, p, n)| json!({"status": s, "priority": p, "tickets": n})).collect();
    Ok(Json(json!({ "tickets": rows })))
}

#[derive(Deserialize, JsonSchema)]
struct Top {
    /// How many customers (default 5, at most 50).
    limit: Option<u32>,
}

async fn top_customers(Args(a): Args<Top>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT c.id, c.name, COUNT(o.id), COALESCE(SUM(o.total_cents), 0) AS spent FROM customers c
         LEFT JOIN orders o ON o.tenant = c.tenant AND o.customer_id = c.id AND o.status NOT IN ('cancelled', 'refunded')
         WHERE c.tenant = ? GROUP BY c.id, c.name ORDER BY spent DESC, c.id LIMIT ?",
    )
    .bind(t.id.as_str())
    .bind(i64::from(a.limit.unwrap_or(5).min(50)))
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    let rows: Vec<Value> =
        rows.into_iter().map(|(id, name, n, spent)| json!({"customer_id": id, "name": name, "orders": n, "spent_cents": spent})).collect();
    Ok(Json(json!({ "customers": rows })))
}

pub(super) fn router() -> McpRouter {
    McpRouter::new("analytics")
        .roles(["analyst", "admin"])
        .tool(
            Tool::new("revenue_report", revenue_report)
                .description("Paid revenue by month.")
                .read_only()
                .scopes(["billing:read"]),
        )
        .tool(
            Tool::new("customer_stats", customer_stats)
                .description("Customers by tier.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("ticket_stats", ticket_stats)
                .description("Tickets by status and priority.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("top_customers", top_customers)
                .description("Customers by amount spent.")
                .read_only()
                .scopes(["read"]),
        )
}
