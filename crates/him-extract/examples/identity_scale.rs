//! The identity decision at index scale (a benchmark, not a test): `scripts/bench-identity-scale` runs it.
//!
//! `cargo run --release -p him-extract --example identity_scale -- N DOCS`
//!
//! Generates a synthetic patient index of N people in memory as CSV text (about 2,000 family names and 1,500
//! given names drawn with a Zipf-like skew, so common names repeat a lot at 1,000,000; birth dates uniform over
//! 1920–2025; unique 8-digit MRNs ending in a Luhn check digit; about 1 % twins and 0.5 % near-duplicate
//! registrations), times `PatientIndex::from_csv` over those bytes, then builds DOCS synthetic one-page charts
//! (letterhead, header block in varied label spellings and date formats, sometimes a guarantor or parent block,
//! clinical prose with visit and lab dates, phone numbers, signatures) for patients drawn among the first 1,000
//! rows (about 10 % absent from the index), runs `identify_pages` on each (a few untimed warm-up runs first)
//! and prints one JSON line:
//! `{"patients","docs","load_s","median_ms","p99_ms","mean_ms","rss_mib","hwm_mib","filed","filed_right","wrong"}`.
//! The rows and pages come from fixed seeds: the first 1,000 rows, hence the pages, are the same at every N.
//! `filed` counts documents matched, `filed_right` those matched to the chart's own patient, `wrong` those
//! matched to anyone else (a chart of a patient absent from the index is wrong wherever it is filed).
//!
//! Set `IDENTITY_SCALE_DUMP=DIR` to write each page to `DIR/<n>.txt`, and `IDENTITY_SCALE_VERBOSE=1` to print
//! each page's truth MRN and outcome to stderr (synthetic data only). `IDENTITY_SCALE_PARTS=1` also prints
//! (stderr) the median of `extract_pages` alone and of `extract_pages` + `match_patient`, to tell where time goes.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Instant;

use him_extract::{
    extract_pages, identify_pages, match_patient, CheckDigit, Date, ExtractOptions, MatchConfig,
    MatchOutcome, PageContent, PatientIndex,
};

/// Pages drawn only among this many first rows of the index, whatever N.
const DRAW_ROWS: usize = 1_000;
const WARM_UP: usize = 5;

/// SplitMix64: small, deterministic, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
    fn range(&mut self, lo: i64, hi_inclusive: i64) -> i64 {
        lo + self.below((hi_inclusive - lo + 1) as usize) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------------------
// Names.

const REAL_FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "McDonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
    "Mendez",
    "Silva",
    "Shaw",
    "Snyder",
    "Mason",
    "Dixon",
    "Munoz",
    "Hunt",
    "Hicks",
    "Holmes",
    "Palmer",
    "Wagner",
    "Black",
    "Robertson",
    "Boyd",
    "Rose",
    "Stone",
    "Salazar",
    "Fox",
    "Warren",
    "Mills",
    "Meyer",
    "Rice",
    "Schmidt",
    "Garza",
    "Daniels",
    "Ferguson",
    "Nichols",
    "Stephens",
    "Soto",
    "Weaver",
    "Ryan",
    "Gardner",
    "Payne",
    "Grant",
    "Dunn",
    "Kelley",
    "Spencer",
    "Hawkins",
    "Arnold",
    "Pierce",
    "Vazquez",
    "Hansen",
    "Peters",
    "Santos",
    "Hart",
    "Bradley",
    "Knight",
    "Elliott",
    "Cunningham",
    "Duncan",
    "Armstrong",
    "Hudson",
    "Carroll",
    "Lane",
    "Riley",
    "Andrews",
    "Alvarado",
    "Ray",
    "Delgado",
    "Berry",
    "Perkins",
    "Hoffman",
    "Johnston",
    "Matthews",
    "Pena",
    "Richards",
    "Contreras",
    "Willis",
    "Carpenter",
    "Lawrence",
    "Sandoval",
    "O'Brien",
    "O'Connor",
    "McCarthy",
    "O'Keefe",
    "Nowak",
    "Kowalski",
    "Novak",
    "Schultz",
    "Becker",
    "Weber",
    "Schneider",
    "Fischer",
    "Dubois",
    "Lefebvre",
    "Rossi",
    "Russo",
    "Esposito",
    "Bianchi",
    "Yamamoto",
    "Tanaka",
    "Suzuki",
    "Wong",
    "Liu",
    "Wang",
    "Zhang",
    "Singh",
    "Shah",
    "Khan",
    "Ali",
    "Ahmed",
    "Cohen",
    "Levy",
    "Friedman",
    "Goldberg",
    "Murphy-Jones",
    "St. John",
    "Van Buren",
    "De La Cruz",
    "MacLeod",
];

const REAL_GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Dorothy",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Edward",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Anna",
    "Stephen",
    "Brenda",
    "Larry",
    "Pamela",
    "Justin",
    "Emma",
    "Scott",
    "Nicole",
    "Brandon",
    "Helen",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Alexander",
    "Debra",
    "Frank",
    "Rachel",
    "Patrick",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Catherine",
    "Dennis",
    "Maria",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Ruth",
    "Jose",
    "Julie",
    "Adam",
    "Olivia",
    "Nathan",
    "Joyce",
    "Henry",
    "Virginia",
    "Douglas",
    "Victoria",
    "Zachary",
    "Kelly",
    "Peter",
    "Lauren",
    "Kyle",
    "Christina",
    "Ethan",
    "Joan",
    "Walter",
    "Evelyn",
    "Noah",
    "Judith",
    "Jeremy",
    "Megan",
    "Christian",
    "Andrea",
    "Keith",
    "Cheryl",
    "Roger",
    "Hannah",
    "Terry",
    "Jacqueline",
    "Gerald",
    "Martha",
    "Harold",
    "Gloria",
    "Sean",
    "Teresa",
    "Austin",
    "Ann",
    "Carl",
    "Sara",
    "Arthur",
    "Madison",
    "Lawrence",
    "Frances",
    "Dylan",
    "Kathryn",
    "Jesse",
    "Janice",
    "Jordan",
    "Jean",
    "Bryan",
    "Abigail",
    "Billy",
    "Alice",
    "Joe",
    "Julia",
    "Bruce",
    "Judy",
    "Gabriel",
    "Sophia",
    "Logan",
    "Grace",
    "Albert",
    "Denise",
    "Willie",
    "Amber",
    "Alan",
    "Doris",
    "Juan",
    "Marilyn",
    "Wayne",
    "Danielle",
    "Elijah",
    "Beverly",
    "Randy",
    "Isabella",
    "Roy",
    "Theresa",
    "Vincent",
    "Diana",
    "Ralph",
    "Natalie",
    "Eugene",
    "Brittany",
    "Russell",
    "Charlotte",
    "Bobby",
    "Marie",
    "Mason",
    "Kayla",
    "Philip",
    "Alexis",
    "Louis",
    "Lori",
    "Karena",
    "Jean-Luc",
    "Mei",
    "Wei",
    "Hiroshi",
    "Yuki",
    "Priya",
    "Rahul",
    "Fatima",
    "Omar",
    "Aisha",
    "Mohammed",
    "Sven",
    "Ingrid",
];

const ONSETS: &[&str] = &[
    "Ab", "Al", "Am", "An", "Ar", "Ash", "Bal", "Bar", "Bel", "Ben", "Ber", "Bla", "Bor", "Bra",
    "Bri", "Bur", "Cal", "Cam", "Car", "Cas", "Cha", "Cor", "Cra", "Dal", "Dan", "Del", "Den",
    "Dor", "Dra", "Dun", "El", "Em", "Fal", "Far", "Fen", "Fer", "Fin", "Gal", "Gar", "Gil", "Gor",
    "Gra", "Hal", "Ham", "Har", "Hel", "Her", "Hol", "Kal", "Kar", "Kel", "Ken", "Kir", "Lan",
    "Lar", "Len", "Lin", "Lor", "Mal", "Mar", "Mel", "Mer", "Mor", "Nal", "Nor", "Or", "Pal",
    "Par", "Pel", "Pen", "Qui", "Ral", "Ran", "Ren", "Ros", "Sal", "San", "Sel", "Sha", "Sil",
    "Sor", "Sta", "Tal", "Tam", "Ter", "Tor", "Val", "Van", "Ver", "Wal", "War", "Wil", "Win",
    "Yar", "Zan", "Zel",
];
const FAMILY_ENDS: &[&str] = &[
    "ton", "ford", "ley", "son", "man", "wood", "field", "berg", "stein", "ski", "ez", "ini",
    "ova", "ing", "well", "by", "dale", "more", "worth", "ridge", "holt", "mann", "sen", "ler",
    "ner", "rick", "ard", "ell", "ey", "off", "enko", "escu", "ian", "idis", "oulos", "aro", "ino",
    "eau", "ier", "at",
];
const GIVEN_ENDS: &[&str] = &[
    "a", "ia", "ella", "ina", "ette", "ine", "ie", "y", "is", "ora", "ana", "ena", "o", "on", "an",
    "en", "ius", "ric", "win", "ald", "bert", "mond", "ias", "iel", "ey", "ara", "isa", "elle",
    "ond", "as",
];

/// `count` distinct names: the real ones first (the most common), then syllable blends.
fn name_pool(real: &[&str], ends: &[&str], count: usize, rng: &mut Rng) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out: Vec<String> = Vec::with_capacity(count);
    for name in real {
        if out.len() < count && seen.insert(name.to_string()) {
            out.push(name.to_string());
        }
    }
    while out.len() < count {
        let mut name = rng.pick(ONSETS).to_string();
        if rng.chance(0.35) {
            let middle = rng.pick(ONSETS).to_ascii_lowercase();
            name.push_str(&middle);
        }
        name.push_str(rng.pick(ends));
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}

/// Zipf-like draws (weight 1 / rank^0.7) over a pool.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(0.7);
                total
            })
            .collect();
        Zipf { cumulative }
    }
    fn draw(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let target = rng.unit() * total;
        self.cumulative
            .partition_point(|&c| c < target)
            .min(self.cumulative.len() - 1)
    }
}

struct Names {
    family: Vec<String>,
    given: Vec<String>,
    family_zipf: Zipf,
    given_zipf: Zipf,
}

impl Names {
    fn new() -> Names {
        let mut rng = Rng::new(0x4E41_4D45);
        let family = name_pool(REAL_FAMILY, FAMILY_ENDS, 2_000, &mut rng);
        let given = name_pool(REAL_GIVEN, GIVEN_ENDS, 1_500, &mut rng);
        let family_zipf = Zipf::new(family.len());
        let given_zipf = Zipf::new(given.len());
        Names {
            family,
            given,
            family_zipf,
            given_zipf,
        }
    }
    fn family(&self, rng: &mut Rng) -> &str {
        &self.family[self.family_zipf.draw(rng)]
    }
    fn given(&self, rng: &mut Rng) -> &str {
        &self.given[self.given_zipf.draw(rng)]
    }
}

// ---------------------------------------------------------------------------------------------------------
// Dates (days since 1970-01-01, proleptic Gregorian).

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u8, d as u8)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A date as charts print it; `style` picks the format.
fn format_date(days: i64, style: usize) -> String {
    let (y, m, d) = civil_from_days(days);
    let month = MONTHS[usize::from(m - 1)];
    match style % 8 {
        0 => format!("{m:02}/{d:02}/{y}"),
        1 => format!("{m}/{d}/{y}"),
        2 => format!("{y}-{m:02}-{d:02}"),
        3 => format!("{month} {d}, {y}"),
        4 => format!("{d:02}-{}-{y}", &month[..3]),
        5 => format!("{} {d}, {y}", &month[..3]),
        6 => format!("{m:02}-{d:02}-{y}"),
        _ => format!("{d} {month} {y}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The index.

#[derive(Clone)]
struct Person {
    mrn: String,
    family: String,
    given: Vec<String>,
    birth: i64,
    sex: char,
}

fn luhn_digit(body: &str) -> char {
    // The check digit that makes body+d pass the index's Luhn check.
    (b'0'..=b'9')
        .map(char::from)
        .find(|d| him_extract::luhn_valid(&format!("{body}{d}")))
        .unwrap_or('0')
}

/// The `i`-th MRN: a permutation of the 7-digit bodies 1000000..9999999 plus a Luhn digit, so unique for every i
/// below 9,000,000. Rows use i < N; patients absent from the index use i from 5,000,000.
fn mrn(i: u64) -> String {
    const SPAN: u64 = 9_000_000;
    // 7,654,321 is prime to 9,000,000 (= 2^6 3^2 5^6).
    let body = 1_000_000 + (i.wrapping_mul(7_654_321) + 1_234_567) % SPAN;
    let body = body.to_string();
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

const BIRTH_FROM: (i64, i64, i64) = (1920, 1, 1);
const BIRTH_TO: (i64, i64, i64) = (2025, 12, 31);

fn new_person(i: u64, names: &Names, rng: &mut Rng) -> Person {
    let first = days_from_civil(BIRTH_FROM.0, BIRTH_FROM.1, BIRTH_FROM.2);
    let last = days_from_civil(BIRTH_TO.0, BIRTH_TO.1, BIRTH_TO.2);
    let mut family = names.family(rng).to_string();
    if rng.chance(0.02) {
        family = format!("{family}-{}", names.family(rng));
    }
    let given_index = names.given_zipf.draw(rng);
    let mut given = vec![names.given[given_index].clone()];
    if rng.chance(0.4) {
        given.push(names.given(rng).to_string());
    }
    Person {
        mrn: mrn(i),
        family,
        given,
        birth: rng.range(first, last),
        sex: if given_index.is_multiple_of(2) {
            'M'
        } else {
            'F'
        },
    }
}

/// Row `i` given the previous one: about 1 % twins (same family and birth date, another given name) and 0.5 %
/// near-duplicate registrations (same name, birth date a day off), the rest independent people.
fn next_row(i: u64, previous: Option<&Person>, names: &Names, rng: &mut Rng) -> Person {
    let roll = rng.unit();
    let mut person = new_person(i, names, rng);
    if let Some(prev) = previous {
        if roll < 0.01 {
            person.family = prev.family.clone();
            person.birth = prev.birth;
        } else if roll < 0.015 {
            person.family = prev.family.clone();
            person.given = prev.given.clone();
            person.sex = prev.sex;
            person.birth = prev.birth + if rng.chance(0.5) { 1 } else { -1 };
        }
    }
    person
}

fn csv_row(p: &Person, out: &mut String) {
    let (y, m, d) = civil_from_days(p.birth);
    let family = if p.family.contains(',') {
        format!("\"{}\"", p.family)
    } else {
        p.family.clone()
    };
    let _ = writeln!(
        out,
        "{},{},{},{y:04}-{m:02}-{d:02},{}",
        p.mrn,
        family,
        p.given.join(" "),
        p.sex
    );
}

/// The index CSV of `n` rows and the first `DRAW_ROWS` people.
fn index_csv(n: usize, names: &Names) -> (String, Vec<Person>) {
    let mut rng = Rng::new(0x1D3E_0001);
    let mut csv = String::with_capacity(n * 48 + 64);
    csv.push_str("mrn,family,given,birth_date,sex\n");
    let mut first = Vec::with_capacity(DRAW_ROWS.min(n));
    let mut previous: Option<Person> = None;
    for i in 0..n {
        let person = next_row(i as u64, previous.as_ref(), names, &mut rng);
        csv_row(&person, &mut csv);
        if i < DRAW_ROWS {
            first.push(person.clone());
        }
        previous = Some(person);
    }
    (csv, first)
}

// ---------------------------------------------------------------------------------------------------------
// Pages.

const LETTERHEADS: &[&str] = &[
    "ST. BRENDAN REGIONAL MEDICAL CENTER",
    "Lakeside Community Hospital",
    "NORTHWEST VALLEY HEALTH SYSTEM",
    "Mercy General Hospital - Department of Internal Medicine",
    "Riverside Family Practice Associates, P.C.",
    "UNIVERSITY HOSPITAL CLINICS",
];
const STREETS: &[&str] = &[
    "Main Street",
    "Hospital Drive",
    "Medical Parkway",
    "Elm Avenue",
    "Harbor Road",
];
const CITIES: &[&str] = &[
    "Springfield, IL 62704",
    "Portland, OR 97205",
    "Albany, NY 12208",
    "Madison, WI 53715",
];
const TITLES: &[&str] = &[
    "DISCHARGE SUMMARY",
    "PROGRESS NOTE",
    "CONSULTATION REPORT",
    "HISTORY AND PHYSICAL",
    "OPERATIVE REPORT",
    "RADIOLOGY REPORT",
    "LABORATORY RESULTS",
    "Outpatient Clinic Note",
    "EMERGENCY DEPARTMENT RECORD",
    "Referral Letter",
];
const NAME_LABELS: &[&str] = &[
    "Patient:",
    "PATIENT NAME:",
    "Name:",
    "Pt Name:",
    "RE:",
    "Patient Name",
    "PATIENT:",
];
const MRN_LABELS: &[&str] = &[
    "MRN:",
    "MR#:",
    "Medical Record Number:",
    "Med Rec #:",
    "MRN #",
    "Chart No.:",
    "Hospital No:",
];
const DOB_LABELS: &[&str] = &[
    "DOB:",
    "Date of Birth:",
    "D.O.B.:",
    "Birth Date:",
    "DOB",
    "Birthdate:",
];
const DOS_LABELS: &[&str] = &[
    "Date of Service:",
    "DOS:",
    "Visit Date:",
    "Admission Date:",
    "Date of Visit:",
    "Encounter Date:",
];
const RELATIONS: &[&str] = &[
    "Spouse", "Daughter", "Son", "Mother", "Father", "Sister", "Brother",
];
const OTHER_ROLE_LABELS: &[&str] = &[
    "Guarantor:",
    "Subscriber:",
    "Insured:",
    "Emergency Contact:",
    "Next of Kin:",
];

const PROSE: &[&str] = &[
    "The patient presents for follow-up of hypertension and type 2 diabetes mellitus.",
    "Reports intermittent chest discomfort on exertion, relieved by rest, no radiation.",
    "Denies fever, chills, night sweats, or unintentional weight loss.",
    "Blood pressure today 138/84, pulse 76, respirations 16, SpO2 97% on room air.",
    "Lungs are clear to auscultation bilaterally. Heart regular rate and rhythm, no murmurs.",
    "Abdomen soft, non-tender, non-distended. Bowel sounds present in all four quadrants.",
    "Continue metformin 1000 mg twice daily and lisinopril 20 mg once daily.",
    "Counselled on diet, exercise and smoking cessation; patient verbalized understanding.",
    "No known drug allergies. Penicillin intolerance (rash) reported by family.",
    "Extremities without edema. Pedal pulses 2+ bilaterally.",
    "Assessment: stable chronic disease, adequate glycemic control.",
    "Plan: repeat basic metabolic panel and lipid profile before next visit.",
    "Imaging reviewed with the patient; no acute cardiopulmonary process identified.",
    "Neurologically intact, cranial nerves II-XII grossly normal, gait steady.",
    "Social history: lives with family, retired teacher, occasional alcohol use.",
    "Family history notable for coronary artery disease in father at age 58.",
    "Wound healing well, sutures intact, no erythema or drainage.",
    "Patient tolerated the procedure well and was transferred to recovery in stable condition.",
];

struct Doc {
    text: String,
    /// The MRN the page belongs to, when its patient is in the index.
    truth: Option<String>,
}

fn name_as_printed(p: &Person, rng: &mut Rng) -> String {
    let given = &p.given[0];
    let middle = p.given.get(1);
    match rng.below(5) {
        0 => format!("{}, {}", p.family.to_uppercase(), given.to_uppercase()),
        1 => match middle {
            Some(m) => format!("{}, {} {}", p.family, given, m),
            None => format!("{}, {}", p.family, given),
        },
        2 => format!("{given} {}", p.family),
        3 => match middle {
            Some(m) => format!(
                "{} {}. {}",
                given.to_uppercase(),
                &m[..1],
                p.family.to_uppercase()
            ),
            None => format!("{} {}", given.to_uppercase(), p.family.to_uppercase()),
        },
        _ => format!("{}, {}", p.family, given),
    }
}

fn mrn_as_printed(mrn: &str, rng: &mut Rng) -> String {
    match rng.below(5) {
        0 | 1 => mrn.to_string(),
        2 => format!("{}-{}", &mrn[..4], &mrn[4..]),
        3 => format!("{}-{}-{}", &mrn[..3], &mrn[3..6], &mrn[6..]),
        _ => format!("{} {} {}", &mrn[..2], &mrn[2..5], &mrn[5..]),
    }
}

fn phone(rng: &mut Rng) -> String {
    let (a, b, c) = (rng.range(201, 989), rng.range(200, 999), rng.range(0, 9999));
    match rng.below(3) {
        0 => format!("({a}) {b}-{c:04}"),
        1 => format!("{a}-{b}-{c:04}"),
        _ => format!("{a}.{b}.{c:04}"),
    }
}

fn clinician(names: &Names, rng: &mut Rng) -> String {
    let title = rng.pick(&["MD", "DO", "NP", "PA-C", "MD, FACP"]);
    format!("{} {}, {title}", names.given(rng), names.family(rng))
}

fn build_doc(n: usize, drawn: &[Person], names: &Names, rng: &mut Rng) -> Doc {
    let today = days_from_civil(2026, 6, 1);
    let absent = rng.chance(0.1);
    let patient = if absent {
        new_person(5_000_000 + n as u64, names, rng)
    } else {
        drawn[rng.below(drawn.len())].clone()
    };
    let truth = (!absent).then(|| patient.mrn.clone());
    let service = today - rng.range(1, 540);
    let mut lines: Vec<String> = Vec::new();

    // Letterhead.
    lines.push(rng.pick(LETTERHEADS).to_string());
    lines.push(format!("{} {}", rng.range(10, 9999), rng.pick(STREETS)));
    lines.push(rng.pick(CITIES).to_string());
    lines.push(format!("Tel {}   Fax {}", phone(rng), phone(rng)));
    lines.push(String::new());
    lines.push(rng.pick(TITLES).to_string());
    lines.push(String::new());

    // Header block.
    let name = format!(
        "{} {}",
        rng.pick(NAME_LABELS),
        name_as_printed(&patient, rng)
    );
    let number = format!(
        "{} {}",
        rng.pick(MRN_LABELS),
        mrn_as_printed(&patient.mrn, rng)
    );
    let birth = format!(
        "{} {}",
        rng.pick(DOB_LABELS),
        format_date(patient.birth, rng.below(8))
    );
    let dos = format!(
        "{} {}",
        rng.pick(DOS_LABELS),
        format_date(service, rng.below(8))
    );
    let sex = format!("Sex: {}", patient.sex);
    match rng.below(3) {
        0 => {
            lines.extend([name, number, birth, sex, dos]);
        }
        1 => {
            lines.push(format!("{name}      {number}"));
            lines.push(format!("{birth}      {sex}"));
            lines.push(dos);
        }
        _ => {
            lines.push(format!("{name}   {birth}   {number}"));
            lines.push(format!("{dos}   Attending: {}", clinician(names, rng)));
        }
    }
    lines.push(format!("Account #: {}", rng.range(10_000_000, 99_999_999)));
    if rng.chance(0.5) {
        lines.push(format!("Referring Physician: {}", clinician(names, rng)));
    }
    lines.push(format!("Home Phone: {}", phone(rng)));

    // Guarantor / parent block: someone else, sometimes a patient of the index.
    let child = patient.birth > today - 18 * 365;
    if child || rng.chance(0.25) {
        let mut other = if rng.chance(0.5) {
            drawn[rng.below(drawn.len())].clone()
        } else {
            new_person(6_000_000 + n as u64, names, rng)
        };
        if child {
            other.family = patient.family.clone();
            other.birth = patient.birth - rng.range(18 * 365, 40 * 365);
        } else if other.birth > today - 18 * 365 {
            other.birth -= 30 * 365;
        }
        let (label, relation) = if child {
            (
                rng.pick(&["Parent/Guardian:", "Guarantor:", "Mother:", "Father:"]),
                rng.pick(&["Mother", "Father", "Guardian"]),
            )
        } else {
            (rng.pick(OTHER_ROLE_LABELS), rng.pick(RELATIONS))
        };
        let other_name = format!("{label} {}, {}", other.family, other.given[0]);
        let other_birth = format_date(other.birth, rng.below(8));
        lines.push(String::new());
        if rng.chance(0.5) {
            lines.push(format!("{other_name}   DOB: {other_birth}"));
            lines.push(format!("Relationship: {relation}   Phone: {}", phone(rng)));
        } else {
            lines.push(other_name);
            lines.push(format!(
                "Relationship: {relation}   DOB: {other_birth}   Phone: {}",
                phone(rng)
            ));
        }
    }
    lines.push(String::new());

    // Body: prose with other dates and numbers.
    let target = rng.range(40, 80) as usize;
    let reserve = 6;
    while lines.len() + reserve < target {
        match rng.below(10) {
            0 => lines.push(format!(
                "Labs drawn {}: hemoglobin {}.{} g/dL, creatinine 0.{} mg/dL, HbA1c {}.{}%.",
                format_date(service - rng.range(0, 60), rng.below(8)),
                rng.range(9, 16),
                rng.below(10),
                rng.range(6, 9),
                rng.range(5, 10),
                rng.below(10)
            )),
            1 => lines.push(format!(
                "Previously seen in clinic on {} for the same complaint.",
                format_date(service - rng.range(30, 900), rng.below(8))
            )),
            2 => lines.push(format!(
                "Follow-up appointment scheduled for {}; call {} with questions.",
                format_date(service + rng.range(7, 120), rng.below(8)),
                phone(rng)
            )),
            3 => lines.push(format!(
                "Discussed with {} by telephone on {}.",
                clinician(names, rng),
                format_date(service - rng.range(0, 10), rng.below(8))
            )),
            4 => lines.push(format!(
                "Chest x-ray {} and echocardiogram {} reviewed.",
                format_date(service - rng.range(0, 400), rng.below(8)),
                format_date(service - rng.range(0, 400), rng.below(8))
            )),
            _ => lines.push(rng.pick(PROSE).to_string()),
        }
        if rng.chance(0.12) {
            lines.push(String::new());
        }
    }

    // Signature and footer.
    let signer = clinician(names, rng);
    lines.push(String::new());
    lines.push(format!(
        "Electronically signed by: {signer} on {} {:02}:{:02}",
        format_date(service + rng.range(0, 5), rng.below(8)),
        rng.range(7, 19),
        rng.below(60)
    ));
    lines.push(format!(
        "Dictated: {}   Transcribed: {}",
        format_date(service, 0),
        format_date(service + 1, 0)
    ));
    lines.push(format!("cc: {}", clinician(names, rng)));
    lines.push("CONFIDENTIAL - contains protected health information".to_string());
    lines.push("Page 1 of 1".to_string());
    Doc {
        text: lines.join("\n"),
        truth,
    }
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((q / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |at: usize, default: usize| -> usize {
        args.get(at)
            .map_or(Some(default), |a| a.replace([',', '_'], "").parse().ok())
            .unwrap_or_else(|| {
                eprintln!("usage: identity_scale N DOCS");
                std::process::exit(2)
            })
    };
    let (n, docs) = (parse(0, 1_000), parse(1, 300));

    let names = Names::new();
    let (csv, drawn) = index_csv(n, &names);
    let started = Instant::now();
    let index = match PatientIndex::from_csv(csv.as_bytes(), CheckDigit::Luhn) {
        Ok(index) => index,
        Err(e) => {
            eprintln!("identity_scale: index: {e}");
            std::process::exit(1)
        }
    };
    let load_s = started.elapsed().as_secs_f64();
    drop(csv);
    assert_eq!(index.len(), n, "every generated row loads");

    let mut rng = Rng::new(0xD0C5_0002);
    let pages: Vec<Doc> = (0..docs)
        .map(|i| build_doc(i, &drawn, &names, &mut rng))
        .collect();
    if let Ok(dir) = std::env::var("IDENTITY_SCALE_DUMP") {
        let _ = std::fs::create_dir_all(&dir);
        for (i, doc) in pages.iter().enumerate() {
            let _ = std::fs::write(format!("{dir}/{i:04}.txt"), &doc.text);
        }
    }
    let today = Date::new(2026, 6, 1).expect("a date");
    let opts = ExtractOptions {
        check_digit: CheckDigit::Luhn,
        ..ExtractOptions::new(today)
    };
    let cfg = MatchConfig::default();
    let identify = |doc: &Doc| {
        let page = [PageContent {
            text: &doc.text,
            words: &[],
        }];
        identify_pages(&page, &index, &opts, &cfg)
    };

    for doc in pages.iter().take(WARM_UP) {
        std::hint::black_box(identify(doc));
    }
    let verbose = std::env::var_os("IDENTITY_SCALE_VERBOSE").is_some();
    let mut times = Vec::with_capacity(docs);
    let (mut filed, mut filed_right, mut wrong) = (0, 0, 0);
    for doc in &pages {
        let started = Instant::now();
        let (_fields, decision) = std::hint::black_box(identify(doc));
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if verbose {
            eprintln!(
                "{}\t{}\t{}",
                doc.truth.as_deref().unwrap_or("absent"),
                serde_json::to_string(&decision.outcome).unwrap_or_default(),
                serde_json::to_string(&_fields.warnings).unwrap_or_default()
            );
        }
        if let MatchOutcome::Matched { mrn, .. } = &decision.outcome {
            filed += 1;
            if doc.truth.as_deref() == Some(mrn.as_str()) {
                filed_right += 1;
            } else {
                wrong += 1;
            }
        }
    }
    // With IDENTITY_SCALE_PARTS=1: the median of extract_pages alone and of extract_pages + match_patient
    // (the label reader's decision), on stderr; identify_pages minus these is the evidence search.
    if std::env::var_os("IDENTITY_SCALE_PARTS").is_some() {
        let median_of = |f: &dyn Fn(&Doc)| {
            let mut times: Vec<f64> = pages
                .iter()
                .map(|doc| {
                    let started = Instant::now();
                    f(doc);
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            times.sort_by(f64::total_cmp);
            percentile(&times, 50.0)
        };
        let extract_ms = median_of(&|doc| {
            let page = [PageContent {
                text: &doc.text,
                words: &[],
            }];
            std::hint::black_box(extract_pages(&page, &opts));
        });
        let match_ms = median_of(&|doc| {
            let page = [PageContent {
                text: &doc.text,
                words: &[],
            }];
            let fields = extract_pages(&page, &opts);
            std::hint::black_box(match_patient(&fields, &index, &cfg));
        });
        let identify_ms = median_of(&|doc| {
            std::hint::black_box(identify(doc));
        });
        eprintln!(
            "{{\"patients\": {n}, \"extract_pages_median_ms\": {extract_ms:.3}, \
             \"extract_and_match_patient_median_ms\": {match_ms:.3}, \"identify_pages_median_ms\": {identify_ms:.3}}}"
        );
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"patients\": {n}, \"docs\": {docs}, \"load_s\": {:.3}, \"median_ms\": {:.3}, \"p99_ms\": {:.3}, \
         \"mean_ms\": {:.3}, \"rss_mib\": {:.1}, \"hwm_mib\": {:.1}, \"filed\": {filed}, \"filed_right\": {filed_right}, \
         \"wrong\": {wrong}}}",
        load_s,
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        mean,
        status_mib("VmRSS"),
        status_mib("VmHWM"),
    );
}
