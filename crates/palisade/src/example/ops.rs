//! `ops.*`: a public health check and the tenant's feature flags.

use mcp_server::{Args, Json, McpRouter, State, Tool, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Db, NOW, Tenant};

async fn health_check(db: State<Db>) -> Result<Json<Value>, ToolError> {
    let database = match sqlx::query("SELECT 1").execute(&db.0.0).await {
        Ok(_) => "ok",
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            "unavailable"
        }
    };
    Ok(Json(json!({ "status": if database == "ok" { "ok" } else { "degraded" }, "database": database })))
}

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

async fn list_feature_flags(
    Args(_): Args<NoArgs>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    let rows: Vec<(String, bool, String)> =
        sqlx::query_as("SELECT name, enabled, updated_at FROM feature_flags WHERE tenant = ? ORDER BY name")
            .bind(t.id.as_str())
            .fetch_all(&db.0.0)
            .await
            .map_err(|e| t.db_error(e))?;
    let flags: Vec<Value> =
        rows.into_iter().map(|(n, e, at)| json!({"name": n, "enabled": e, "updated_at": at})).collect();
    Ok(Json(json!({ "flags": flags })))
}

#[derive(Deserialize, JsonSchema)]
struct Toggle {
    /// The flag's name (letters, digits, `_`, at most 64).
    name: String,
    /// On or off.
    enabled: bool,
}

async fn feature_toggle(Args(a): Args<Toggle>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if a.name.is_empty()
        || a.name.len() > 64
        || !a.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ToolError::InvalidArguments("name must be 1-64 letters, digits or _".into()));
    }
    sqlx::query(&format!(
        "INSERT INTO feature_flags (tenant, name, enabled, updated_at) VALUES (?, ?, ?, {NOW})
         ON CONFLICT (tenant, name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at"
    ))
    .bind(t.id.as_str())
    .bind(&a.name)
    .bind(a.enabled)
    .execute(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "name": a.name, "enabled": a.enabled })))
}

pub(super) fn router() -> McpRouter {
    McpRouter::new("ops")
        .tool(Tool::new("health_check", health_check).description("Is the service up?").read_only().public())
        .tool(
            Tool::new("list_feature_flags", list_feature_flags)
                .description("Your tenant's feature flags.")
                .read_only()
                .roles(["ops", "admin"])
                .scopes(["read"]),
        )
        .tool(
            Tool::new("feature_toggle", feature_toggle)
                .description("Turn a feature flag of your tenant on or off.")
                .idempotent()
                .all_roles(["admin", "ops"])
                .scopes(["write"]),
        )
}
