//! The example's SQLite database: open (WAL), migrate, seed once.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Opens (creating if needed) `path`, applies the migrations, and seeds the demo tenants
/// into an empty database.
///
/// # Errors
/// Any database or migration error.
pub(crate) async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers").fetch_one(&pool).await?;
    if count == 0 {
        seed(&pool).await?;
    }
    Ok(pool)
}

/// Three tenants with customers, orders, invoices, shipments, tickets and flags.
async fn seed(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let customers: &[(&str, &str, &str, &str, &str)] = &[
        ("acme", "cus_1001", "Ada Lovelace", "ada@acme.example", "platinum"),
        ("acme", "cus_1002", "Charles Babbage", "charles@acme.example", "gold"),
        ("acme", "cus_1003", "Grace Hopper", "grace@acme.example", "standard"),
        ("acme", "cus_1004", "Alan Turing", "alan@acme.example", "standard"),
        ("globex", "cus_2001", "Hank Scorpio", "hank@globex.example", "platinum"),
        ("globex", "cus_2002", "Homer Simpson", "homer@globex.example", "standard"),
        ("globex", "cus_2003", "Frank Grimes", "frank@globex.example", "gold"),
        ("initech", "cus_3001", "Peter Gibbons", "peter@initech.example", "standard"),
        ("initech", "cus_3002", "Bill Lumbergh", "bill@initech.example", "gold"),
    ];
    for (tenant, id, name, email, tier) in customers {
        sqlx::query("INSERT INTO customers (tenant, id, name, email, tier, created_at) VALUES (?, ?, ?, ?, ?, '2026-01-15T09:00:00Z')")
            .bind(tenant).bind(id).bind(name).bind(email).bind(tier)
            .execute(&mut *tx).await?;
    }
    // (tenant, order, customer, status, total, created, invoice status)
    let orders: &[(&str, &str, &str, &str, i64, &str, &str)] = &[
        ("acme", "ord_5001", "cus_1001", "delivered", 129_900, "2026-09-02T10:00:00Z", "paid"),
        ("acme", "ord_5002", "cus_1001", "shipped", 45_000, "2026-10-11T12:30:00Z", "paid"),
        ("acme", "ord_5003", "cus_1002", "paid", 8_750, "2026-11-01T08:15:00Z", "paid"),
        ("acme", "ord_5004", "cus_1003", "pending", 2_500, "2026-11-20T16:45:00Z", "open"),
        ("globex", "ord_6001", "cus_2001", "delivered", 990_000, "2026-08-19T09:00:00Z", "paid"),
        ("globex", "ord_6002", "cus_2002", "paid", 1_299, "2026-11-03T11:00:00Z", "paid"),
        ("globex", "ord_6003", "cus_2003", "pending", 15_000, "2026-11-21T14:00:00Z", "open"),
        ("initech", "ord_7001", "cus_3001", "shipped", 3_400, "2026-11-10T10:10:00Z", "paid"),
    ];
    for (i, (tenant, id, customer, status, total, created, invoice_status)) in orders.iter().enumerate() {
        sqlx::query("INSERT INTO orders (tenant, id, customer_id, status, total_cents, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(tenant).bind(id).bind(customer).bind(status).bind(total).bind(created)
            .execute(&mut *tx).await?;
        sqlx::query("INSERT INTO invoices (tenant, id, order_id, amount_cents, status, issued_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(tenant).bind(format!("inv_{}", 8001 + i)).bind(id).bind(total).bind(invoice_status).bind(created)
            .execute(&mut *tx).await?;
        if matches!(*status, "shipped" | "delivered") {
            let shipment_status = if *status == "delivered" { "delivered" } else { "in_transit" };
            sqlx::query("INSERT INTO shipments (tenant, id, order_id, carrier, tracking_number, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
                .bind(tenant).bind(format!("shp_{}", 9001 + i)).bind(id).bind(if i % 2 == 0 { "DHL" } else { "UPS" })
                .bind(format!("1Z{:08}", 4_200_000 + i * 37)).bind(shipment_status).bind(created)
                .execute(&mut *tx).await?;
        }
    }
    let tickets: &[(&str, &str, &str, &str, &str, &str)] = &[
        ("acme", "tkt_101", "cus_1001", "Invoice shows the wrong address", "open", "normal"),
        ("acme", "tkt_102", "cus_1002", "Parcel arrived damaged", "pending", "high"),
        ("acme", "tkt_103", "cus_1004", "Cannot log in", "closed", "low"),
        ("globex", "tkt_201", "cus_2002", "Doomsday device manual missing", "open", "urgent"),
        ("globex", "tkt_202", "cus_2003", "Refund for order ord_6003?", "escalated", "high"),
        ("initech", "tkt_301", "cus_3001", "TPS report cover sheets", "open", "low"),
    ];
    for (tenant, id, customer, subject, status, priority) in tickets {
        sqlx::query("INSERT INTO tickets (tenant, id, customer_id, subject, status, priority, assignee, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, '2026-11-18T09:00:00Z', '2026-11-18T09:00:00Z')")
            .bind(tenant).bind(id).bind(customer).bind(subject).bind(status).bind(priority)
            .execute(&mut *tx).await?;
    }
    for (tenant, name, enabled) in [
        ("acme", "new_checkout", 1),
        ("acme", "beta_reports", 0),
        ("globex", "new_checkout", 0),
        ("globex", "volcano_lair_mode", 1),
        ("initech", "new_checkout", 0),
    ] {
        sqlx::query("INSERT INTO feature_flags (tenant, name, enabled, updated_at) VALUES (?, ?, ?, '2026-11-01T00:00:00Z')")
            .bind(tenant).bind(name).bind(enabled)
            .execute(&mut *tx).await?;
    }
    tx.commit().await
}
