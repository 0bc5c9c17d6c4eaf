//! `customers.*`: seven tools over the tenant's customers and their notes.

use mcp_server::{Args, Json, McpRouter, State, Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Db, NOW, Tenant, new_id};

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Customer {
    id: String,
    name: String,
    email: String,
    tier: String,
    created_at: String,
}

const COLUMNS: &str = "id, name, email, tier, created_at";

#[derive(Deserialize, JsonSchema)]
struct ListCustomers {
    /// Only customers of this tier (`standard`, `gold`, `platinum`).
    tier: Option<String>,
    /// At most this many (default 50, at most 200).
    limit: Option<u32>,
}

async fn list_customers(
    Args(a): Args<ListCustomers>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    let limit = i64::from(a.limit.unwrap_or(50).min(200));
    let rows: Vec<Customer> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant = ? AND (? IS NULL OR tier = ?) ORDER BY id LIMIT ?"
    ))
    .bind(t.id.as_str())
    .bind(&a.tier)
    .bind(&a.tier)
    .bind(limit)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "customers": rows })))
}

#[derive(Deserialize, JsonSchema)]
struct CustomerId {
    /// The customer's id, e.g. `cus_1001`.
    customer_id: String,
}

async fn fetch(t: &Tenant, db: &Db, id: &str) -> Result<Customer, ToolError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM customers WHERE tenant = ? AND id = ?"))
        .bind(t.id.as_str())
        .bind(id)
        .fetch_optional(&db.0)
        .await
        .map_err(|e| t.db_error(e))?
        .ok_or_else(|| ToolError::NotFound(format!("customer {id}")))
}

async fn get_customer(Args(a): Args<CustomerId>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let customer = fetch(&t, &db, &a.customer_id).await?;
    let notes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT author, body, created_at FROM customer_notes WHERE tenant = ? AND customer_id = ? ORDER BY id",
    )
    .bind(t.id.as_str())
    .bind(&a.customer_id)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    let notes: Vec<Value> = notes
        .into_iter()
        .map(|(author, body, at)| json!({"author": author, "body": body, "created_at": at}))
        .collect();
    Ok(Json(json!({ "customer": customer, "notes": notes })))
}

#[derive(Deserialize, JsonSchema)]
struct Search {
    /// Text to find in names and e-mail addresses (case-insensitive).
    query: String,
}

async fn search_customers(Args(a): Args<Search>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if a.query.trim().is_empty() || a.query.len() > 200 {
        return Err(ToolError::InvalidArguments("query must be 1-200 characters".into()));
    }
    // LIKE wildcards in the query are matched literally.
    let pattern = format!("%{}%", a.query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let rows: Vec<Customer> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant = ? AND (name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\') ORDER BY id LIMIT 50"
    ))
    .bind(t.id.as_str())
    .bind(&pattern)
    .bind(&pattern)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "customers": rows })))
}

#[derive(Deserialize, JsonSchema)]
struct NewCustomer {
    /// Full name.
    name: String,
    /// E-mail address.
    email: String,
    /// `standard` (default), `gold` or `platinum`.
    tier: Option<String>,
}

fn check_tier(tier: &str) -> Result<(), ToolError> {
    if matches!(tier, "standard" | "gold" | "platinum") {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments("tier must be standard, gold or platinum".into()))
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ToolError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ToolError::InvalidArguments(format!("{field} must be 1-{max} characters")));
    }
    Ok(())
}

async fn create_customer(
    Args(a): Args<NewCustomer>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    check_text("name", &a.name, 200)?;
    check_text("email", &a.email, 320)?;
    if !a.email.contains('@') {
        return Err(ToolError::InvalidArguments("email must contain @".into()));
    }
    let tier = a.tier.unwrap_or_else(|| "standard".into());
    check_tier(&tier)?;
    let id = new_id("cus")?;
    sqlx::query(&format!(
        "INSERT INTO customers (tenant, id, name, email, tier, created_at) VALUES (?, ?, ?, ?, ?, {NOW})"
    ))
    .bind(t.id.as_str())
    .bind(&id)
    .bind(&a.name)
    .bind(&a.email)
    .bind(&tier)
    .execute(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "customer": fetch(&t, &db, &id).await? })))
}

#[derive(Deserialize, JsonSchema)]
struct UpdateCustomer {
    /// The customer's id.
    customer_id: String,
    /// New name.
    name: Option<String>,
    /// New e-mail address.
    email: Option<String>,
    /// New tier.
    tier: Option<String>,
}

async fn update_customer(
    Args(a): Args<UpdateCustomer>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    if let Some(name) = &a.name {
        check_text("name", name, 200)?;
    }
    if let Some(email) = &a.email {
        check_text("email", email, 320)?;
    }
    if let Some(tier) = &a.tier {
        check_tier(tier)?;
    }
    let updated = sqlx::query(
        "UPDATE customers SET name = COALESCE(?, name), email = COALESCE(?, email), tier = COALESCE(?, tier) WHERE tenant = ? AND id = ?",
    )
    .bind(&a.name)
    .bind(&a.email)
    .bind(&a.tier)
    .bind(t.id.as_str())
    .bind(&a.customer_id)
    .execute(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    if updated.rows_affected() == 0 {
        return Err(ToolError::NotFound(format!("customer {}", a.customer_id)));
    }
    Ok(Json(json!({ "customer": fetch(&t, &db, &a.customer_id).await? })))
}

#[derive(Deserialize, JsonSchema)]
struct Note {
    /// The customer's id.
    customer_id: String,
    /// The note.
    body: String,
}

async fn add_note(Args(a): Args<Note>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    check_text("body", &a.body, 4000)?;
    fetch(&t, &db, &a.customer_id).await?;
    sqlx::query(&format!("INSERT INTO customer_notes (tenant, customer_id, author, body, created_at) VALUES (?, ?, ?, ?, {NOW})"))
        .bind(t.id.as_str())
        .bind(&a.customer_id)
        .bind(&t.actor)
        .bind(&a.body)
        .execute(&db.0.0)
        .await
        .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "added": true, "customer_id": a.customer_id })))
}

async fn delete_customer(
    Args(a): Args<CustomerId>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    let deleted = sqlx::query("DELETE FROM customers WHERE tenant = ? AND id = ?")
        .bind(t.id.as_str())
        .bind(&a.customer_id)
        .execute(&db.0.0)
        .await
        .map_err(|e| t.db_error(e))?;
    if deleted.rows_affected() == 0 {
        return Err(ToolError::NotFound(format!("customer {}", a.customer_id)));
    }
    Ok(Json(json!({ "deleted": a.customer_id })))
}

pub(super) fn router() -> McpRouter {
    McpRouter::new("customers")
        .roles(["support", "admin"])
        .tool(
            Tool::new("list_customers", list_customers)
                .description("List your tenant's customers, optionally by tier.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("get_customer", get_customer)
                .description("One customer of your tenant, with notes.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("search_customers", search_customers)
                .description("Find customers by name or e-mail.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("create_customer", create_customer).description("Create a customer.").scopes(["write"]),
        )
        .tool(
            Tool::new("update_customer", update_customer)
                .description("Change a customer's name, e-mail or tier.")
                .idempotent()
                .scopes(["write"]),
        )
        .tool(Tool::new("add_note", add_note).description("Add a note to a customer.").scopes(["write"]))
        .tool(
            Tool::new("delete_customer", delete_customer)
                .description("Delete a customer and everything attached to them.")
                .destructive()
                .all_roles(["admin", "support"])
                .scopes(["write"]),
        )
}
