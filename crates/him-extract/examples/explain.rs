//! Explains the identity decision for a page text (one file per page, as `REIDENTIFY_TEXT` writes them):
//! the fields read and every candidate with its evidence spans and roles. For synthetic benchmark charts only:
//! the output holds identities.
//!
//! `cargo run --release -p him-extract --example explain -- PATIENTS.csv PAGE.txt [PAGE.txt…]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [index, pages @ ..] = args.as_slice() else {
        return Err("usage: explain PATIENTS.csv PAGE.txt [PAGE.txt…]".into());
    };
    let index = him_extract::PatientIndex::from_csv(
        std::fs::File::open(index)?,
        him_extract::CheckDigit::None,
    )?;
    let texts: Vec<String> = pages
        .iter()
        .map(std::fs::read_to_string)
        .collect::<Result<_, _>>()?;
    let pages: Vec<him_extract::PageContent<'_>> = texts
        .iter()
        .map(|text| him_extract::PageContent { text, words: &[] })
        .collect();
    let today = him_extract::Date::new(2026, 12, 1).ok_or("date")?;
    let (fields, decision) = him_extract::identify_pages(
        &pages,
        &index,
        &him_extract::ExtractOptions::new(today),
        &him_extract::MatchConfig::default(),
    );
    println!("{}", serde_json::to_string_pretty(&fields.summary())?);
    println!("{:?}", decision.outcome);
    for candidate in &decision.candidates {
        let record = index.by_mrn(&candidate.mrn);
        let who = record
            .first()
            .map(|r| {
                format!(
                    "{} {:?} {:?}",
                    r.family,
                    r.given,
                    r.birth_date.map(|d| d.to_string())
                )
            })
            .unwrap_or_default();
        println!(
            "candidate {} ({who}) score {:.2}",
            candidate.mrn, candidate.score
        );
        for span in &candidate.evidence {
            if let him_extract::Source::Text { page, start, end } = span.source {
                let text = texts[page as usize].get(start..end).unwrap_or("?");
                println!("    {:?} {:?} {text:?}", span.identifier, span.role);
            }
        }
    }
    Ok(())
}
