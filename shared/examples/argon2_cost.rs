//! Prints the cost of one password hash and one verification with the service's parameters.
//! Run by `benches/auth.sh`.

use std::time::Instant;

use shared::security::PasswordHasher;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hasher = PasswordHasher::default();
    let runs = 15;
    let mut hash_ms = Vec::new();
    let mut verify_ms = Vec::new();
    let phc = hasher.hash("correct horse battery").await?;
    for _ in 0..runs {
        let t = Instant::now();
        hasher.hash("correct horse battery").await?;
        hash_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        hasher.verify("correct horse battery", Some(&phc)).await?;
        verify_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "argon2id m=19MiB t=2 p=1: hash p50 {:.1} ms, verify p50 {:.1} ms ({runs} runs)",
        median(&mut hash_ms),
        median(&mut verify_ms)
    );
    Ok(())
}
