//! `tickets.*`: eight tools over support tickets and their comments.

use mcp_server::{Args, Json, McpRouter, State, Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Db, NOW, Tenant, new_id};

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Ticket {
    id: String,
    customer_id: String,
    subject: String,
    status: String,
    priority: String,
    assignee: Option<String>,
    created_at: String,
    updated_at: String,
}

const COLUMNS: &str = "id, customer_id, subject, status, priority, assignee, created_at, updated_at";

async fn fetch(t: &Tenant, db: &Db, id: &str) -> Result<Ticket, ToolError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tickets WHERE tenant = ? AND id = ?"))
        .bind(t.id.as_str())
        .bind(id)
        .fetch_optional(&db.0)
        .await
        .map_err(|e| t.db_error(e))?
        .ok_or_else(|| ToolError::NotFound(format!("ticket {id}")))
}

/// Sets columns of one ticket, returning the updated ticket.
async fn set(t: &Tenant, db: &Db, id: &str, assignments: &str, values: &[&str]) -> Result<Ticket, ToolError> {
    let sql = format!("UPDATE tickets SET {assignments}, updated_at = {NOW} WHERE tenant = ? AND id = ?");
    let mut query = sqlx::query(&sql);
    for value in values {
        query = query.bind(*value);
    }
    let changed = query.bind(t.id.as_str()).bind(id).execute(&db.0).await.map_err(|e| t.db_error(e))?;
    if changed.rows_affected() == 0 {
        return Err(ToolError::NotFound(format!("ticket {id}")));
    }
    fetch(t, db, id).await
}

#[derive(Deserialize, JsonSchema)]
struct ListTickets {
    /// Only tickets in this status (`open`, `pending`, `escalated`, `closed`).
    status: Option<String>,
}

async fn list_tickets(
    Args(a): Args<ListTickets>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    let rows: Vec<Ticket> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE tenant = ? AND (? IS NULL OR status = ?) ORDER BY updated_at DESC LIMIT 100"
    ))
    .bind(t.id.as_str())
    .bind(&a.status)
    .bind(&a.status)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "tickets": rows })))
}

#[derive(Deserialize, JsonSchema)]
struct TicketId {
    /// The ticket's id, e.g. `tkt_101`.
    ticket_id: String,
}

async fn get_ticket(Args(a): Args<TicketId>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let ticket = fetch(&t, &db, &a.ticket_id).await?;
    let comments: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT author, body, created_at FROM ticket_comments WHERE tenant = ? AND ticket_id = ? ORDER BY id",
    )
    .bind(t.id.as_str())
    .bind(&a.ticket_id)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    let comments: Vec<Value> = comments
        .into_iter()
        .map(|(author, body, at)| json!({"author": author, "body": body, "created_at": at}))
        .collect();
    Ok(Json(json!({ "ticket": ticket, "comments": comments })))
}

#[derive(Deserialize, JsonSchema)]
struct NewTicket {
    /// The customer the ticket is about.
    customer_id: String,
    /// A one-line summary.
    subject: String,
    /// `low`, `normal` (default), `high` or `urgent`.
    priority: Option<String>,
}

fn check_priority(priority: &str) -> Result<(), ToolError> {
    if matches!(priority, "low" | "normal" | "high" | "urgent") {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments("priority must be low, normal, high or urgent".into()))
    }
}

async fn create_ticket(Args(a): Args<NewTicket>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if a.subject.trim().is_empty() || a.subject.len() > 300 {
        return Err(ToolError::InvalidArguments("subject must be 1-300 characters".into()));
    }
    let priority = a.priority.unwrap_or_else(|| "normal".into());
    check_priority(&priority)?;
    let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM customers WHERE tenant = ? AND id = ?")
        .bind(t.id.as_str())
        .bind(&a.customer_id)
        .fetch_optional(&db.0.0)
        .await
        .map_err(|e| t.db_error(e))?;
    if exists.is_none() {
        return Err(ToolError::NotFound(format!("customer {}", a.customer_id)));
    }
    let id = new_id("tkt")?;
    sqlx::query(&format!(
        "INSERT INTO tickets (tenant, id, customer_id, subject, status, priority, assignee, created_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, NULL, {NOW}, {NOW})"
    ))
    .bind(t.id.as_str())
    .bind(&id)
    .bind(&a.customer_id)
    .bind(&a.subject)
    .bind(&priority)
    .execute(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "ticket": fetch(&t, &db, &id).await? })))
}

#[derive(Deserialize, JsonSchema)]
struct Status {
    /// The ticket's id.
    ticket_id: String,
    /// `open`, `pending`, `escalated` or `closed`.
    status: String,
}

async fn update_status(Args(a): Args<Status>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if !matches!(a.status.as_str(), "open" | "pending" | "escalated" | "closed") {
        return Err(ToolError::InvalidArguments("status must be open, pending, escalated or closed".into()));
    }
    Ok(Json(json!({ "ticket": set(&t, &db, &a.ticket_id, "status = ?", &[&a.status]).await? })))
}

#[derive(Deserialize, JsonSchema)]
struct Assign {
    /// The ticket's id.
    ticket_id: String,
    /// Who should handle it.
    assignee: String,
}

async fn assign_ticket(Args(a): Args<Assign>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if a.assignee.trim().is_empty() || a.assignee.len() > 200 {
        return Err(ToolError::InvalidArguments("assignee must be 1-200 characters".into()));
    }
    Ok(Json(json!({ "ticket": set(&t, &db, &a.ticket_id, "assignee = ?", &[&a.assignee]).await? })))
}

#[derive(Deserialize, JsonSchema)]
struct Comment {
    /// The ticket's id.
    ticket_id: String,
    /// The comment.
    body: String,
}

async fn add_comment(Args(a): Args<Comment>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if a.body.trim().is_empty() || a.body.len() > 4000 {
        return Err(ToolError::InvalidArguments("body must be 1-4000 characters".into()));
    }
    fetch(&t, &db, &a.ticket_id).await?;
    sqlx::query(&format!(
        "INSERT INTO ticket_comments (tenant, ticket_id, author, body, created_at) VALUES (?, ?, ?, ?, {NOW})"
    ))
    .bind(t.id.as_str())
    .bind(&a.ticket_id)
    .bind(&t.actor)
    .bind(&a.body)
    .execute(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "ticket": set(&t, &db, &a.ticket_id, "status = status", &[]).await? })))
}

async fn escalate_ticket(
    Args(a): Args<TicketId>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    let ticket = fetch(&t, &db, &a.ticket_id).await?;
    if ticket.status == "closed" {
        return Err(ToolError::Conflict(format!("ticket {} is closed", ticket.id)));
    }
    Ok(Json(
        json!({ "ticket": set(&t, &db, &a.ticket_id, "status = 'escalated', priority = 'urgent'", &[]).await? }),
    ))
}

async fn close_ticket(Args(a): Args<TicketId>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    Ok(Json(json!({ "ticket": set(&t, &db, &a.ticket_id, "status = 'closed'", &[]).await? })))
}

pub(super) fn router() -> McpRouter {
    McpRouter::new("tickets")
        .roles(["support", "admin"])
        .tool(
            Tool::new("list_tickets", list_tickets)
                .description("List support tickets, by status.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("get_ticket", get_ticket)
                .description("One ticket with its comments.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("create_ticket", create_ticket)
                .description("Open a ticket for a customer.")
                .scopes(["write"]),
        )
        .tool(
            Tool::new("update_status", update_status)
                .description("Set a ticket's status.")
                .idempotent()
                .scopes(["write"]),
        )
        .tool(
            Tool::new("assign_ticket", assign_ticket)
                .description("Assign a ticket.")
                .idempotent()
                .scopes(["write"]),
        )
        .tool(Tool::new("add_comment", add_comment).description("Comment on a ticket.").scopes(["write"]))
        .tool(
            Tool::new("escalate_ticket", escalate_ticket)
                .description("Escalate a ticket to urgent.")
                .idempotent()
                .scopes(["write"]),
        )
        .tool(
            Tool::new("close_ticket", close_ticket)
                .description("Close a ticket.")
                .idempotent()
                .scopes(["write"]),
        )
}
