//! `orders.*`: eight tools over orders, invoices and shipments.

use mcp_server::{Args, Json, McpRouter, State, Tool, ToolError, ToolResponse};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Db, NOW, Tenant, new_id};

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Order {
    id: String,
    customer_id: String,
    status: String,
    total_cents: i64,
    created_at: String,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Invoice {
    id: String,
    order_id: String,
    amount_cents: i64,
    status: String,
    issued_at: String,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Shipment {
    id: String,
    order_id: String,
    carrier: String,
    tracking_number: String,
    status: String,
    updated_at: String,
}

#[derive(Deserialize, JsonSchema)]
struct ListOrders {
    /// Only this customer's orders.
    customer_id: Option<String>,
    /// Only orders in this status.
    status: Option<String>,
}

async fn list_orders(Args(a): Args<ListOrders>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let rows: Vec<Order> = sqlx::query_as(
        "SELECT id, customer_id, status, total_cents, created_at FROM orders
         WHERE tenant = ? AND (? IS NULL OR customer_id = ?) AND (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT 100",
    )
    .bind(t.id.as_str())
    .bind(&a.customer_id)
    .bind(&a.customer_id)
    .bind(&a.status)
    .bind(&a.status)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "orders": rows })))
}

#[derive(Deserialize, JsonSchema)]
struct OrderId {
    /// The order's id, e.g. `ord_5001`.
    order_id: String,
}

async fn fetch_order(t: &Tenant, db: &Db, id: &str) -> Result<Order, ToolError> {
    sqlx::query_as(
        "SELECT id, customer_id, status, total_cents, created_at FROM orders WHERE tenant = ? AND id = ?",
    )
    .bind(t.id.as_str())
    .bind(id)
    .fetch_optional(&db.0)
    .await
    .map_err(|e| t.db_error(e))?
    .ok_or_else(|| ToolError::NotFound(format!("order {id}")))
}

async fn get_order(Args(a): Args<OrderId>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let order = fetch_order(&t, &db, &a.order_id).await?;
    let shipment: Option<Shipment> = sqlx::query_as(
        "SELECT id, order_id, carrier, tracking_number, status, updated_at FROM shipments WHERE tenant = ? AND order_id = ?",
    )
    .bind(t.id.as_str())
    .bind(&a.order_id)
    .fetch_optional(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "order": order, "shipment": shipment })))
}

#[derive(Deserialize, JsonSchema)]
struct NewOrder {
    /// The customer's id.
    customer_id: String,
    /// The total in cents (1 to 100,000,000).
    total_cents: i64,
}

async fn create_order(Args(a): Args<NewOrder>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    if !(1..=100_000_000).contains(&a.total_cents) {
        return Err(ToolError::InvalidArguments("total_cents must be between 1 and 100000000".into()));
    }
    let mut tx = db.0.0.begin().await.map_err(|e| t.db_error(e))?;
    let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM customers WHERE tenant = ? AND id = ?")
        .bind(t.id.as_str())
        .bind(&a.customer_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| t.db_error(e))?;
    if exists.is_none() {
        return Err(ToolError::NotFound(format!("customer {}", a.customer_id)));
    }
    let order_id = new_id("ord")?;
    let invoice_id = new_id("inv")?;
    sqlx::query(&format!("INSERT INTO orders (tenant, id, customer_id, status, total_cents, created_at) VALUES (?, ?, ?, 'pending', ?, {NOW})"))
        .bind(t.id.as_str())
        .bind(&order_id)
        .bind(&a.customer_id)
        .bind(a.total_cents)
        .execute(&mut *tx)
        .await
        .map_err(|e| t.db_error(e))?;
    sqlx::query(&format!("INSERT INTO invoices (tenant, id, order_id, amount_cents, status, issued_at) VALUES (?, ?, ?, ?, 'open', {NOW})"))
        .bind(t.id.as_str())
        .bind(&invoice_id)
        .bind(&order_id)
        .bind(a.total_cents)
        .execute(&mut *tx)
        .await
        .map_err(|e| t.db_error(e))?;
    tx.commit().await.map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "order": fetch_order(&t, &db, &order_id).await?, "invoice_id": invoice_id })))
}

async fn cancel_order(Args(a): Args<OrderId>, t: Tenant, db: State<Db>) -> Result<ToolResponse, ToolError> {
    let order = fetch_order(&t, &db, &a.order_id).await?;
    if !matches!(order.status.as_str(), "pending" | "paid") {
        return Err(ToolError::Conflict(format!(
            "order {} is {} and can no longer be cancelled",
            order.id, order.status
        )));
    }
    // The status check is repeated in the UPDATE so a concurrent shipment cannot be undone.
    let changed = sqlx::query("UPDATE orders SET status = 'cancelled' WHERE tenant = ? AND id = ? AND status IN ('pending', 'paid')")
        .bind(t.id.as_str())
        .bind(&a.order_id)
        .execute(&db.0.0)
        .await
        .map_err(|e| t.db_error(e))?;
    if changed.rows_affected() == 0 {
        return Err(ToolError::Conflict(format!("order {} changed while being cancelled", a.order_id)));
    }
    Ok(ToolResponse::json(json!({ "cancelled": a.order_id })).with_metadata("rows_affected", 1))
}

#[derive(Deserialize, JsonSchema)]
struct ListInvoices {
    /// Only invoices in this status (`open`, `paid`, `refunded`).
    status: Option<String>,
}

async fn list_invoices(
    Args(a): Args<ListInvoices>,
    t: Tenant,
    db: State<Db>,
) -> Result<Json<Value>, ToolError> {
    let rows: Vec<Invoice> = sqlx::query_as(
        "SELECT id, order_id, amount_cents, status, issued_at FROM invoices WHERE tenant = ? AND (? IS NULL OR status = ?) ORDER BY issued_at DESC LIMIT 100",
    )
    .bind(t.id.as_str())
    .bind(&a.status)
    .bind(&a.status)
    .fetch_all(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?;
    Ok(Json(json!({ "invoices": rows })))
}

#[derive(Deserialize, JsonSchema)]
struct InvoiceId {
    /// The invoice's id, e.g. `inv_8001`.
    invoice_id: String,
}

async fn get_invoice(Args(a): Args<InvoiceId>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    let invoice: Invoice = sqlx::query_as(
        "SELECT id, order_id, amount_cents, status, issued_at FROM invoices WHERE tenant = ? AND id = ?",
    )
    .bind(t.id.as_str())
    .bind(&a.invoice_id)
    .fetch_optional(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?
    .ok_or_else(|| ToolError::NotFound(format!("invoice {}", a.invoice_id)))?;
    Ok(Json(json!({ "invoice": invoice })))
}

async fn refund_order(Args(a): Args<OrderId>, t: Tenant, db: State<Db>) -> Result<ToolResponse, ToolError> {
    let mut tx = db.0.0.begin().await.map_err(|e| t.db_error(e))?;
    let changed = sqlx::query(
        "UPDATE invoices SET status = 'refunded' WHERE tenant = ? AND order_id = ? AND status = 'paid'",
    )
    .bind(t.id.as_str())
    .bind(&a.order_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| t.db_error(e))?;
    if changed.rows_affected() == 0 {
        drop(tx);
        fetch_order(&t, &db, &a.order_id).await?;
        return Err(ToolError::Conflict(format!("order {} has no paid invoice to refund", a.order_id)));
    }
    sqlx::query("UPDATE orders SET status = 'refunded' WHERE tenant = ? AND id = ?")
        .bind(t.id.as_str())
        .bind(&a.order_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| t.db_error(e))?;
    tx.commit().await.map_err(|e| t.db_error(e))?;
    Ok(ToolResponse::json(json!({ "refunded": a.order_id }))
        .with_metadata("rows_affected", changed.rows_affected()))
}

async fn track_shipment(Args(a): Args<OrderId>, t: Tenant, db: State<Db>) -> Result<Json<Value>, ToolError> {
    fetch_order(&t, &db, &a.order_id).await?;
    let shipment: Shipment = sqlx::query_as(
        "SELECT id, order_id, carrier, tracking_number, status, updated_at FROM shipments WHERE tenant = ? AND order_id = ?",
    )
    .bind(t.id.as_str())
    .bind(&a.order_id)
    .fetch_optional(&db.0.0)
    .await
    .map_err(|e| t.db_error(e))?
    .ok_or_else(|| ToolError::NotFound(format!("shipment for order {}", a.order_id)))?;
    Ok(Json(json!({ "shipment": shipment })))
}

pub(super) fn router() -> McpRouter {
    McpRouter::new("orders")
        .roles(["support", "admin"])
        .tool(
            Tool::new("list_orders", list_orders)
                .description("List orders, by customer or status.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("get_order", get_order)
                .description("One order with its shipment.")
                .read_only()
                .scopes(["read"]),
        )
        .tool(
            Tool::new("create_order", create_order)
                .description("Create a pending order and its invoice.")
                .scopes(["write"]),
        )
        .tool(
            Tool::new("cancel_order", cancel_order)
                .description("Cancel a pending or paid order.")
                .scopes(["write"]),
        )
        .tool(
            Tool::new("list_invoices", list_invoices)
                .description("List invoices.")
                .read_only()
                .scopes(["billing:read"]),
        )
        .tool(
            Tool::new("get_invoice", get_invoice)
                .description("One invoice.")
                .read_only()
                .scopes(["billing:read"]),
        )
        .tool(
            Tool::new("refund_order", refund_order)
                .description("Refund a paid order. Needs an approver's grant: the first call returns an approval request id.")
                .destructive()
                .requires_approval()
                .roles(["admin"])
                .scopes(["billing:write"]),
        )
        .tool(
            Tool::new("track_shipment", track_shipment)
                .description("Where an order's parcel is.")
                .read_only()
                .scopes(["read"]),
        )
}
