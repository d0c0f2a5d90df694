//! Similar cohorts: ranking existing cohorts against a draft, so people can join one instead of
//! founding another.
//!
//! This module owns how a draft (name, domain, purpose, tags) is compared with a cohort's public
//! face, what the score means and how a match is explained. It works on text the caller hands it
//! and never looks anything up; which cohorts are candidates (tenant, stage, visibility) is the
//! caller's business.
//!
//! The ranking, step by step:
//! 1. **Normalise.** Text is lower-cased, common Latin diacritics are folded (`é` → `e`,
//!    `ß` → `ss`), apostrophes are dropped and everything else that is not a letter or digit
//!    separates words. `c++`, `c#`, `f#` and `.net` survive as words, a few abbreviations are
//!    spelled out (`ml`, `js`, `k8s`, `golang`…) and "machine learning" and "deep learning"
//!    become one word each, because "learning" on its own is a common word.
//! 2. **Drop common words.** English function words, and the words every cohort uses about
//!    itself ("study", "group", "learning", "course", "cohort", "club", "circle", "practice",
//!    "community", "weekly"…), carry no topic and are dropped.
//! 3. **Stem.** The Snowball English stemmer (`rust-stemmers`) folds word forms together
//!    ("engineering", "engineers" → `engin`; "statistical", "statistics" → `statist`). Snowball
//!    keeps agent nouns whole where this ranking wants them to meet their verb, so a small step
//!    after it drops a final `-er` that leaves four letters with a vowel ("learner" → `learn`)
//!    and undoubles a final consonant other than `s` ("programm" → `program`). Words of up to
//!    three letters, words with anything but ASCII letters (`c++`, `b1`), and "embed" (which
//!    Snowball cuts to `emb`, though "embedded" becomes `embed`) stay whole.
//! 4. **Weigh.** Each word weighs its field's weight ([`Field::weight`]: domain and tags 3, name
//!    2, purpose 1), dampened for repetition, times its inverse document frequency over the
//!    candidates: a word found in many of the candidate cohorts weighs little. The IDF assumes
//!    [`IDF_PRIOR_COHORTS`] extra cohorts that contain no word at all, so with a handful of
//!    candidates every word still counts and the common-word list does the work.
//! 5. **Match softly.** Two words match when their stems or their written forms are equal, or
//!    close enough to be a slip of the keyboard (optimal string alignment distance, `strsim`): one swap
//!    of neighbours from 4 letters, one missing or extra letter from 5, one wrong letter from 7,
//!    two edits from 8. Shorter words, and words with digits like `b1`, match only exactly, and
//!    both words must start with the same letter unless they are a swap of one another. These
//!    are stricter than a plain "distance 1 from 4 letters" because short English words are
//!    one letter apart all the time (rust/rest, data/date, train/trail). A typo match counts
//!    [`ONE_TYPO`] or [`TWO_TYPOS`] instead of 1.
//! 6. **Score.** The score is the soft cosine of the two weighted bags of words: each draft word
//!    is paired with at most one cohort word and the other way round (best pairs first), and the
//!    products of weights times word similarity are summed and divided by both bags' lengths. It
//!    lies in [0, 1]; 1 means the same words in the same proportions. Matches below
//!    [`MIN_SCORE`] are dropped, the rest are sorted by score and then by id.
//! 7. **Explain.** Reasons name what matched, field by field: "same domain", "similar domain
//!    (rust programing ≈ rust programming)", "shares tags rust, async", "similar name",
//!    "purpose mentions tokio, testing", with `≈` marking a typo-tolerant pairing.
//!
//! Inputs are cut to the text limits of [`crate::text`] and to [`MAX_WORDS_PER_FIELD`] words per
//! field before any work, so the cost is bounded whatever arrives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::text;

/// Matches scoring below this are not worth suggesting and are dropped.
pub const MIN_SCORE: f64 = 0.15;

/// How many imaginary cohorts without any of the words the inverse document frequency assumes
/// besides the real candidates. It keeps IDF from erasing words when there are only a few
/// candidates, and fades away as their number grows.
pub const IDF_PRIOR_COHORTS: f64 = 10.0;

/// At most this many words of one field are read; the rest is ignored.
pub const MAX_WORDS_PER_FIELD: usize = 256;

/// Longer words are cut to this many characters.
const MAX_WORD_CHARS: usize = 40;

/// The similarity of two words one typo apart.
pub const ONE_TYPO: f64 = 0.85;
/// The similarity of two words two typos apart.
pub const TWO_TYPOS: f64 = 0.7;

/// A field-to-field similarity at or above this earns "similar domain" or "similar name".
const SIMILAR_FIELD: f64 = 0.5;

/// At most this many words or tags are listed in one reason.
const MAX_LISTED: usize = 4;

/// At most this many characters of a field are quoted in a reason.
const MAX_QUOTED_CHARS: usize = 60;

/// A cohort being drafted: whatever the person has typed so far. Absent or blank fields are
/// simply not compared.
#[derive(Debug, Clone, Copy, Default)]
pub struct Draft<'a> {
    pub name: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub purpose: Option<&'a str>,
    pub tags: &'a [String],
}

/// An existing cohort's public face, as the caller loaded it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: i64,
    pub name: &'a str,
    pub domain: &'a str,
    pub purpose: &'a str,
    pub tags: &'a [String],
}

/// One ranked cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub id: i64,
    /// In [0, 1]; higher is closer.
    pub score: f64,
    /// Why it matched, field by field (domain, tags, name, then words found elsewhere); never
    /// empty.
    pub reasons: Vec<String>,
}

/// Ranks `candidates` against `draft`, best first, and returns at most `limit` of them.
/// Candidates scoring below [`MIN_SCORE`] are dropped; equal scores are ordered by id. The result
/// depends only on the draft and the set of candidates, not on their order.
pub fn rank(draft: &Draft<'_>, candidates: &[Candidate<'_>], limit: usize) -> Vec<Match> {
    if limit == 0 || candidates.is_empty() {
        return Vec::new();
    }
    let draft =
        Profile::new(draft.name.unwrap_or(""), draft.domain.unwrap_or(""), draft.purpose.unwrap_or(""), draft.tags);
    if draft.is_empty() {
        return Vec::new();
    }
    let profiles: Vec<Profile> = candidates.iter().map(|c| Profile::new(c.name, c.domain, c.purpose, c.tags)).collect();
    let corpus = Corpus::new(&profiles);
    let near = corpus.near(&draft);
    let draft_idf = |stem: &str| near.get(stem).map_or_else(|| corpus.idf(stem), |n| n.idf);
    let draft_bag = draft.bag(Field::ALL, &draft_idf);

    // Score everything, keep the best `limit`, and only then spend time on explaining them.
    let mut scored: Vec<(f64, i64, usize, Vec<Pair>)> = candidates
        .iter()
        .zip(&profiles)
        .enumerate()
        .filter_map(|(index, (candidate, profile))| {
            let bag = profile.bag(Field::ALL, &|stem| corpus.idf(stem));
            let (score, pairs) = soft_cosine(&draft_bag, &bag, &near);
            (score >= MIN_SCORE && !pairs.is_empty()).then_some((score, candidate.id, index, pairs))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(limit);
    scored
        .into_iter()
        .filter_map(|(score, id, index, pairs)| {
            let profile = profiles.get(index)?;
            let reasons = explain(&draft, profile, &pairs, &near, &draft_idf, &corpus);
            Some(Match { id, score, reasons })
        })
        .collect()
}

/// The four compared fields of a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Domain,
    Tags,
    Name,
    Purpose,
}

impl Field {
    /// Every field, in the order reasons mention them.
    pub const ALL: &'static [Field] = &[Field::Domain, Field::Tags, Field::Name, Field::Purpose];

    /// How much one word in this field counts: the domain and tags say what a cohort is about,
    /// the name mostly does, and the purpose is long prose.
    pub fn weight(self) -> f64 {
        match self {
            Field::Domain | Field::Tags => 3.0,
            Field::Name => 2.0,
            Field::Purpose => 1.0,
        }
    }

    fn index(self) -> usize {
        match self {
            Field::Domain => 0,
            Field::Tags => 1,
            Field::Name => 2,
            Field::Purpose => 3,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Field::Domain => "domain",
            Field::Tags => "tags",
            Field::Name => "name",
            Field::Purpose => "purpose",
        }
    }
}

/// A word as compared (`stem`) and as shown in reasons (`surface`, normalised).
#[derive(Debug, Clone, PartialEq)]
struct Word {
    stem: String,
    surface: String,
}

/// One normalised tag: what is shown, and its stems in order.
#[derive(Debug, Clone)]
struct Tag {
    shown: String,
    stems: Vec<String>,
}

/// One cohort's (or the draft's) text, normalised: the words of each field, in [`Field`] order,
/// the tags one by one, and the domain and name as quoted in reasons.
#[derive(Debug, Clone)]
struct Profile {
    words: [Vec<Word>; 4],
    tags: Vec<Tag>,
    quoted: [String; 4],
}

impl Profile {
    fn new(name: &str, domain: &str, purpose: &str, tags: &[String]) -> Self {
        let tags: Vec<Tag> = tags
            .iter()
            .take(text::MAX_TAGS)
            .filter_map(|tag| {
                let stems: Vec<String> = words(tag, text::TAG.max).into_iter().map(|w| w.stem).collect();
                (!stems.is_empty()).then(|| Tag { shown: quote(tag, text::TAG.max), stems })
            })
            .collect();
        let tag_words: Vec<Word> =
            tags.iter().flat_map(|tag| words(&tag.shown, text::TAG.max)).take(MAX_WORDS_PER_FIELD).collect();
        Profile {
            words: [
                words(domain, text::DOMAIN.max),
                tag_words,
                words(name, text::COHORT_NAME.max),
                words(purpose, text::PURPOSE.max),
            ],
            tags,
            quoted: [quote(domain, MAX_QUOTED_CHARS), String::new(), quote(name, MAX_QUOTED_CHARS), String::new()],
        }
    }

    fn is_empty(&self) -> bool {
        self.words.iter().all(Vec::is_empty)
    }

    fn field(&self, field: Field) -> &[Word] {
        &self.words[field.index()]
    }

    /// Every distinct stem, in any field.
    fn stems(&self) -> BTreeSet<&str> {
        self.words.iter().flatten().map(|w| w.stem.as_str()).collect()
    }

    /// The words of one field as written (normalised), in order.
    fn field_surfaces(&self, field: Field) -> Vec<&str> {
        self.field(field).iter().map(|w| w.surface.as_str()).collect()
    }

    /// How `stem` is written in `field`, or in any field when `field` is `None`.
    fn surface<'a>(&'a self, stem: &'a str, field: Option<Field>) -> &'a str {
        let fields: &[Field] = match field {
            Some(ref f) => std::slice::from_ref(f),
            None => Field::ALL,
        };
        fields.iter().flat_map(|f| self.field(*f)).find(|w| w.stem == stem).map_or(stem, |w| w.surface.as_str())
    }

    /// The weighted bag of words over `fields`: per stem, the sum over fields of the field's
    /// weight times `1 + ln(count)`, times the stem's IDF.
    fn bag(&self, fields: &[Field], idf: &dyn Fn(&str) -> f64) -> Bag {
        let mut bag = Bag::new();
        for field in fields {
            let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
            for word in self.field(*field) {
                *counts.entry(word.stem.as_str()).or_default() += 1;
            }
            for (stem, count) in counts {
                *bag.entry(stem.to_owned()).or_default() += field.weight() * (1.0 + f64::from(count).ln());
            }
        }
        for (stem, weight) in bag.iter_mut() {
            *weight *= idf(stem);
        }
        bag
    }
}

/// Weight per stem.
type Bag = BTreeMap<String, f64>;

/// What a draft stem may match in the candidates' vocabulary, and how much it weighs.
#[derive(Debug, Clone)]
struct Near {
    /// Vocabulary stems it matches, with their word similarity in (0, 1].
    stems: Vec<(String, f64)>,
    /// The IDF of the closest vocabulary stem, or of an unseen word when none matches.
    idf: f64,
}

/// The candidates' vocabulary: per stem, in how many candidates it occurs and one way it is
/// written (the alphabetically first, so it does not depend on the candidates' order).
struct Corpus {
    cohorts: f64,
    vocabulary: BTreeMap<String, Known>,
}

/// One stem of the vocabulary.
#[derive(Debug, Clone)]
struct Known {
    cohorts: u32,
    surface: String,
}

impl Corpus {
    fn new(profiles: &[Profile]) -> Self {
        let mut vocabulary: BTreeMap<String, Known> = BTreeMap::new();
        for profile in profiles {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            for word in profile.words.iter().flatten() {
                let first_here = seen.insert(word.stem.as_str());
                match vocabulary.get_mut(&word.stem) {
                    Some(known) => {
                        if word.surface < known.surface {
                            known.surface.clone_from(&word.surface);
                        }
                        known.cohorts += u32::from(first_here);
                    }
                    None => {
                        vocabulary.insert(word.stem.clone(), Known { cohorts: 1, surface: word.surface.clone() });
                    }
                }
            }
        }
        // The count only feeds a logarithm; precision beyond 2^53 cohorts is moot.
        #[allow(clippy::cast_precision_loss)]
        let cohorts = profiles.len() as f64;
        Corpus { cohorts, vocabulary }
    }

    fn cohorts_with(&self, stem: &str) -> u32 {
        self.vocabulary.get(stem).map_or(0, |k| k.cohorts)
    }

    /// Inverse document frequency with [`IDF_PRIOR_COHORTS`] imaginary cohorts: always positive,
    /// near zero for a stem found in every one of many cohorts.
    fn idf(&self, stem: &str) -> f64 {
        ((self.cohorts + IDF_PRIOR_COHORTS + 1.0) / (f64::from(self.cohorts_with(stem)) + 1.0)).ln()
    }

    /// For every stem of the draft, the vocabulary stems it matches exactly or as a typo. Stems
    /// and written forms are both compared, because a typo can change how a word stems
    /// ("tesing" stems to `tes`, "testing" to `test`).
    fn near(&self, draft: &Profile) -> BTreeMap<String, Near> {
        draft
            .stems()
            .into_iter()
            .map(|stem| {
                let surface = draft.surface(stem, None);
                let mut stems: Vec<(String, f64)> = self
                    .vocabulary
                    .iter()
                    .filter_map(|(known, entry)| {
                        let similarity = word_similarity(stem, known).max(word_similarity(surface, &entry.surface));
                        (similarity > 0.0).then(|| (known.clone(), similarity))
                    })
                    .collect();
                // The closest stem first; among equally close ones the more common, then the
                // alphabetically first, so the choice never depends on input order.
                stems.sort_by(|(a, sa), (b, sb)| {
                    sb.total_cmp(sa)
                        .then_with(|| self.cohorts_with(b).cmp(&self.cohorts_with(a)))
                        .then_with(|| a.cmp(b))
                });
                let idf = stems.first().map_or_else(|| self.idf(stem), |(closest, _)| self.idf(closest));
                (stem.to_owned(), Near { stems, idf })
            })
            .collect()
    }
}

/// A draft stem paired with a cohort stem by [`soft_cosine`].
#[derive(Debug, Clone)]
struct Pair {
    draft: String,
    cohort: String,
    contribution: f64,
}

/// The soft cosine of two bags: every draft stem is paired with at most one cohort stem it
/// matches and each cohort stem with at most one draft stem, the largest products first. Because
/// the pairing is one-to-one and word similarity is at most 1, the sum cannot exceed the product of
/// the lengths, so the result lies in [0, 1].
fn soft_cosine(draft: &Bag, cohort: &Bag, near: &BTreeMap<String, Near>) -> (f64, Vec<Pair>) {
    let norm = |bag: &Bag| bag.values().map(|w| w * w).sum::<f64>().sqrt();
    let lengths = norm(draft) * norm(cohort);
    if !(lengths.is_finite() && lengths > 0.0) {
        return (0.0, Vec::new());
    }
    let mut candidates: Vec<Pair> = Vec::new();
    for (stem, weight) in draft {
        let Some(near) = near.get(stem) else { continue };
        for (known, similarity) in &near.stems {
            if let Some(other) = cohort.get(known) {
                candidates.push(Pair {
                    draft: stem.clone(),
                    cohort: known.clone(),
                    contribution: weight * other * similarity,
                });
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.contribution
            .total_cmp(&a.contribution)
            .then_with(|| a.draft.cmp(&b.draft))
            .then_with(|| a.cohort.cmp(&b.cohort))
    });
    let mut used_draft: BTreeSet<String> = BTreeSet::new();
    let mut used_cohort: BTreeSet<String> = BTreeSet::new();
    let mut pairs = Vec::new();
    let mut sum = 0.0;
    for pair in candidates {
        if used_draft.contains(&pair.draft) || used_cohort.contains(&pair.cohort) {
            continue;
        }
        used_draft.insert(pair.draft.clone());
        used_cohort.insert(pair.cohort.clone());
        sum += pair.contribution;
        pairs.push(pair);
    }
    let score = sum / lengths;
    (if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 }, pairs)
}

/// The reasons for one match, field by field: the domain, the tags and the name compared as
/// wholes ("same domain", "shares tags rust, async", "similar name"), then the matched words not
/// yet explained, by the cohort field they were found in ("purpose mentions tokio").
fn explain(
    draft: &Profile,
    cohort: &Profile,
    pairs: &[Pair],
    near: &BTreeMap<String, Near>,
    draft_idf: &dyn Fn(&str) -> f64,
    corpus: &Corpus,
) -> Vec<String> {
    let cohort_idf = |stem: &str| corpus.idf(stem);
    let mut reasons = Vec::new();
    let mut explained: BTreeSet<Field> = BTreeSet::new();

    for field in [Field::Domain, Field::Tags, Field::Name] {
        let label = field.label();
        if field == Field::Tags {
            let shared: Vec<&str> = cohort
                .tags
                .iter()
                .filter(|theirs| draft.tags.iter().any(|mine| same_tag(mine, theirs)))
                .map(|tag| tag.shown.as_str())
                .take(MAX_LISTED)
                .collect();
            if !shared.is_empty() {
                reasons.push(format!("shares {label} {}", shared.join(", ")));
                explained.insert(field);
            }
            continue;
        }
        let (mine, theirs) = (draft.bag(&[field], draft_idf), cohort.bag(&[field], &cohort_idf));
        if mine.is_empty() || theirs.is_empty() {
            continue;
        }
        if draft.field_surfaces(field) == cohort.field_surfaces(field) {
            reasons.push(format!("same {label}"));
            explained.insert(field);
        } else if soft_cosine(&mine, &theirs, near).0 >= SIMILAR_FIELD {
            reasons.push(match field {
                Field::Domain => {
                    format!("similar {label} ({} ≈ {})", draft.quoted[field.index()], cohort.quoted[field.index()])
                }
                _ => format!("similar {label}"),
            });
            explained.insert(field);
        }
    }

    // Words not yet explained, by the first field of the cohort that holds them.
    let mut mentioned: BTreeMap<Field, Vec<String>> = BTreeMap::new();
    for pair in pairs {
        let holding: Vec<Field> =
            Field::ALL.iter().copied().filter(|f| cohort.field(*f).iter().any(|w| w.stem == pair.cohort)).collect();
        if holding.iter().any(|f| explained.contains(f)) {
            continue;
        }
        let Some(field) = holding.first().copied() else { continue };
        let theirs = cohort.surface(&pair.cohort, Some(field));
        let shown = if pair.draft == pair.cohort {
            theirs.to_owned()
        } else {
            format!("{} ≈ {theirs}", draft.surface(&pair.draft, None))
        };
        let listed = mentioned.entry(field).or_default();
        if listed.len() < MAX_LISTED && !listed.contains(&shown) {
            listed.push(shown);
        }
    }
    for (field, words) in mentioned {
        let verb = if field == Field::Tags { "include" } else { "mentions" };
        reasons.push(format!("{} {verb} {}", field.label(), words.join(", ")));
    }
    reasons
}

/// Two tags are the same when their stems agree one by one, allowing typos.
fn same_tag(a: &Tag, b: &Tag) -> bool {
    a.stems.len() == b.stems.len() && a.stems.iter().zip(&b.stems).all(|(x, y)| word_similarity(x, y) > 0.0)
}

/// Lower-cases, collapses white space and cuts `text` to `max` characters for a reason.
fn quote(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    if collapsed.chars().count() > max {
        let cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    } else {
        collapsed
    }
}

/// How alike two stems are: 1 when equal, [`ONE_TYPO`] or [`TWO_TYPOS`] when close enough to be
/// a slip of the keyboard, 0 otherwise. See the module documentation for the rule.
fn word_similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    // Cheap refusals first: this runs for every draft word against the whole vocabulary.
    let (length_a, length_b) = (a.chars().count(), b.chars().count());
    let shorter = length_a.min(length_b);
    if shorter < 4 || length_a.abs_diff(length_b) > 2 {
        return 0.0;
    }
    let (mut ca, mut cb) = (a.chars(), b.chars());
    let (a1, a2, b1, b2) = (ca.next(), ca.next(), cb.next(), cb.next());
    if a1 != b1 && !(a1 == b2 && a2 == b1) {
        return 0.0;
    }
    let has_digit = |s: &str| s.chars().any(|c| c.is_ascii_digit());
    if has_digit(a) || has_digit(b) {
        return 0.0;
    }
    // The same letters in another order: with a distance of 1, a swap of two neighbours.
    let same_letters = {
        let (mut x, mut y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        x.sort_unstable();
        y.sort_unstable();
        x == y
    };
    if a1 != b1 && !same_letters {
        return 0.0;
    }
    match strsim::osa_distance(a, b) {
        1 if same_letters => ONE_TYPO,
        1 if length_a != length_b && shorter >= 5 => ONE_TYPO,
        1 if shorter >= 7 => ONE_TYPO,
        2 if shorter >= 8 => TWO_TYPOS,
        _ => 0.0,
    }
}

/// Abbreviations spelled out, so either spelling matches the other.
const ALIASES: &[(&str, &str)] = &[
    ("ml", "machinelearning"),
    ("js", "javascript"),
    ("ts", "typescript"),
    ("k8s", "kubernetes"),
    ("golang", "go"),
    ("maths", "math"),
    ("mathematics", "math"),
    ("stats", "statistics"),
    ("ai", "artificialintelligence"),
];

/// Two-word terms whose second word is common on its own, joined into one word.
const COMPOUNDS: &[(&str, &str, &str)] = &[
    ("machine", "learning", "machinelearning"),
    ("deep", "learning", "deeplearning"),
    ("artificial", "intelligence", "artificialintelligence"),
];

/// English function words, dropped as written.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "between", "both", "but", "by", "can", "could", "did", "do", "does",
    "doing", "down", "during", "each", "either", "etc", "every", "few", "for", "from", "further", "had", "has", "have",
    "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just",
    "let", "lets", "like", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "one",
    "only", "or", "other", "our", "ours", "out", "over", "own", "per", "same", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "upon", "us", "very", "via", "vs", "was", "we", "well", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "within", "without", "would", "you", "your", "yours",
];

/// Words every cohort uses about itself, dropped in every form (they are compared as stems).
const COMMON_WORDS: &[&str] = &[
    "group",
    "study",
    "learn",
    "learning",
    "learner",
    "course",
    "cohort",
    "club",
    "circle",
    "practice",
    "practise",
    "community",
    "session",
    "meetup",
    "meet",
    "meeting",
    "class",
    "together",
    "people",
    "member",
    "participant",
    "student",
    "trainee",
    "everyone",
    "anyone",
    "welcome",
    "join",
    "weekly",
    "monthly",
    "fortnightly",
    "week",
    "online",
    "skill",
    "share",
    "help",
    "want",
    "new",
    "get",
    "level",
    "topic",
];

/// [`FUNCTION_WORDS`] as a set, built once.
fn function_words() -> &'static BTreeSet<&'static str> {
    static WORDS: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| FUNCTION_WORDS.iter().copied().collect())
}

/// The stems of [`COMMON_WORDS`], computed once.
fn common_stems() -> &'static BTreeSet<String> {
    static STEMS: OnceLock<BTreeSet<String>> = OnceLock::new();
    STEMS.get_or_init(|| COMMON_WORDS.iter().map(|w| stem(w)).collect())
}

/// The compared words of `text`: normalised, joined, spelled out, without common words, stemmed,
/// at most [`MAX_WORDS_PER_FIELD`].
fn words(text: &str, max_chars: usize) -> Vec<Word> {
    let raw = split(text, max_chars);
    let mut out: Vec<Word> = Vec::new();
    let mut i = 0;
    while i < raw.len() && out.len() < MAX_WORDS_PER_FIELD {
        let current = raw[i].as_str();
        let joined = raw.get(i + 1).and_then(|next| {
            COMPOUNDS
                .iter()
                .find(|(first, second, _)| *first == current && second == next)
                .map(|(f, s, j)| (*f, *s, *j))
        });
        let (word, surface, step) = match joined {
            Some((first, second, joined)) => (joined.to_owned(), format!("{first} {second}"), 2),
            None => {
                let spelled = ALIASES.iter().find(|(short, _)| *short == current).map_or(current, |(_, long)| long);
                (spelled.to_owned(), current.to_owned(), 1)
            }
        };
        i += step;
        if function_words().contains(word.as_str()) || (word.chars().count() == 1 && word != "c" && word != "r") {
            continue;
        }
        let stem = stem(&word);
        if common_stems().contains(&stem) {
            continue;
        }
        out.push(Word { stem, surface });
    }
    out
}

/// Splits `text` (its first `max_chars` characters) into lower-case, diacritic-folded words.
fn split(text: &str, max_chars: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().take(max_chars).collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if matches!(c, '\'' | '’' | '\u{0300}'..='\u{036f}') {
            // Apostrophes join ("teacher's" is "teachers"); combining accents are dropped.
        } else if c.is_alphanumeric() {
            if current.chars().count() < MAX_WORD_CHARS {
                fold(c, &mut current);
            }
        } else {
            match (current.as_str(), c, next) {
                ("c", '+', Some('+')) => {
                    current = "cpp".into();
                    i += 1;
                }
                ("c", '#', _) => current = "csharp".into(),
                ("f", '#', _) => current = "fsharp".into(),
                ("", '.', Some('n' | 'N')) => {
                    let rest: String = chars.iter().skip(i + 1).take(3).collect::<String>().to_lowercase();
                    let after = chars.get(i + 4).copied();
                    if rest == "net" && !after.is_some_and(char::is_alphanumeric) {
                        current = "dotnet".into();
                        i += 3;
                    }
                }
                _ => {}
            }
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        i += 1;
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Appends `c`, lower-cased and with common Latin diacritics removed, to `out`.
fn fold(c: char, out: &mut String) {
    for c in c.to_lowercase() {
        let folded = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ĺ' | 'ļ' | 'ľ' | 'ł' => "l",
            'ñ' | 'ń' | 'ņ' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ř' => "r",
            'ś' | 'ŝ' | 'ş' | 'š' => "s",
            'ß' => "ss",
            'ţ' | 'ť' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            other => {
                out.push(other);
                continue;
            }
        };
        out.push_str(folded);
    }
}

/// A word's stem: Snowball English, then the step the module documentation describes (a final
/// `-er` dropped, a final doubled consonant undoubled). Short and non-ASCII-letter words are kept.
fn stem(word: &str) -> String {
    if word.len() <= 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) || KEEP_WHOLE.contains(&word) {
        return word.to_owned();
    }
    static ENGLISH: OnceLock<Stemmer> = OnceLock::new();
    let mut w = ENGLISH.get_or_init(|| Stemmer::create(Algorithm::English)).stem(word).into_owned();
    if w.len() >= 6 && w.ends_with("er") && w.as_bytes()[..w.len() - 2].iter().any(|b| is_vowel(*b)) {
        w.truncate(w.len() - 2);
    }
    if let [.., x, y] = w.as_bytes()
        && x == y
        && *y != b's'
        && !is_vowel(*y)
        && w.len() >= 4
    {
        w.pop();
    }
    w
}

/// Words Snowball cuts below their root, kept as they are: "embed" would become `emb` while
/// "embedded" becomes `embed`.
const KEEP_WHOLE: &[&str] = &["embed"];

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    /// A small, varied set of cohorts: (id, name, domain, purpose, tags).
    fn cohorts() -> Vec<(i64, &'static str, &'static str, &'static str, Vec<String>)> {
        vec![
            (1, "Rust programming", "Systems programming", "Ownership, lifetimes and traits.", tags(&["rust"])),
            (
                2,
                "Rust for data engineers",
                "Data engineering",
                "Pipelines with Polars and Arrow.",
                tags(&["rust", "data"]),
            ),
            (
                3,
                "Async Rust",
                "Rust programming",
                "Futures, tokio and testing async code.",
                tags(&["rust", "async", "tokio"]),
            ),
            (
                4,
                "Spanish B1 conversation",
                "Spanish language",
                "Speak about travel and work.",
                tags(&["spanish", "b1"]),
            ),
            (5, "Spanish A2 grammar", "Spanish language", "Ser and estar, preterite.", tags(&["spanish", "a2"])),
            (6, "Sourdough baking", "Cooking", "Starters, hydration and shaping.", tags(&["baking", "bread"])),
            (7, "Python study group", "Python programming", "Learning Python together.", tags(&["python"])),
            (
                8,
                "Teaching practice circle",
                "Teaching practice",
                "Teachers learning from each other.",
                tags(&["teaching"]),
            ),
            (9, "Nursing study group", "Nursing", "A study group for learning clinical skills.", tags(&["nursing"])),
            (10, "Bouldering", "Climbing", "Footwork and technique on boulder problems.", tags(&["climbing"])),
        ]
    }

    fn run(draft: &Draft<'_>, limit: usize) -> Vec<Match> {
        let data = cohorts();
        let candidates: Vec<Candidate<'_>> = data
            .iter()
            .map(|(id, name, domain, purpose, tags)| Candidate { id: *id, name, domain, purpose, tags })
            .collect();
        rank(draft, &candidates, limit)
    }

    fn ids(matches: &[Match]) -> Vec<i64> {
        matches.iter().map(|m| m.id).collect()
    }

    #[test]
    fn a_typo_still_finds_the_cohort() {
        let found = run(&Draft { name: Some("Rust programing"), ..Draft::default() }, 3);
        assert_eq!(found.first().map(|m| m.id), Some(1), "{found:?}");
        let found = run(&Draft { domain: Some("Spansh langauge"), ..Draft::default() }, 3);
        let top: Vec<i64> = ids(&found).into_iter().take(2).collect();
        assert_eq!(top, vec![4, 5], "{found:?}");
        assert!(found[0].reasons[0].starts_with("similar domain (spansh langauge ≈ spanish language)"), "{found:?}");
    }

    #[test]
    fn word_forms_meet_in_one_stem() {
        for (a, b) in [
            ("learning", "learn"),
            ("learners", "learn"),
            ("programming", "programmers"),
            ("programing", "program"),
            ("engineering", "engineers"),
            ("conversational", "conversation"),
            ("baking", "bake"),
            ("nurses", "nursing"),
            ("classes", "class"),
            ("reflective", "reflection"),
            ("statistical", "statistics"),
            ("embedded", "embed"),
            ("studies", "study"),
            ("modelling", "modeling"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        for keep in ["sing", "string", "bus", "class", "analysis", "jazz"] {
            assert!(stem(keep).len() >= 3, "{keep} → {}", stem(keep));
        }
        let found = run(&Draft { name: Some("Bakers of sourdough breads"), ..Draft::default() }, 3);
        assert_eq!(found.first().map(|m| m.id), Some(6), "{found:?}");
        let found = run(&Draft { name: Some("Data engineering in Rust"), ..Draft::default() }, 3);
        assert_eq!(found.first().map(|m| m.id), Some(2), "{found:?}");
    }

    #[test]
    fn typos_are_tolerated_only_where_words_are_long_enough() {
        assert_eq!(word_similarity("program", "program"), 1.0);
        assert_eq!(word_similarity("pyton", "python"), ONE_TYPO);
        assert_eq!(word_similarity("rsut", "rust"), ONE_TYPO, "a swap in a short word");
        assert_eq!(word_similarity("rust", "rest"), 0.0, "4-letter words differ by one letter all the time");
        assert_eq!(word_similarity("data", "date"), 0.0);
        assert_eq!(word_similarity("postgres", "postgresql"), TWO_TYPOS);
        assert_eq!(word_similarity("react", "beact"), 0.0, "the first letter must agree");
        assert_eq!(word_similarity("train", "trail"), 0.0, "a wrong letter needs a longer word");
        assert_eq!(word_similarity("grammer", "grammar"), ONE_TYPO);
        assert_eq!(word_similarity("spansh", "spanish"), ONE_TYPO);
        assert_eq!(word_similarity("b1", "b2"), 0.0, "levels are exact");
        assert_eq!(word_similarity("", ""), 1.0);
        assert_eq!(word_similarity("kubernetse", "kubernetes"), ONE_TYPO, "a swap counts one edit");
    }

    #[test]
    fn common_words_do_not_make_a_match() {
        let found = run(&Draft { name: Some("Study group for learning"), ..Draft::default() }, 10);
        assert!(found.is_empty(), "{found:?}");
        let found = run(
            &Draft {
                name: Some("Weekly study group"),
                purpose: Some("A group of learners practising together in our learning circle."),
                ..Draft::default()
            },
            10,
        );
        assert!(found.is_empty(), "{found:?}");
        // One real topic word among common ones: only cohorts about that topic come back.
        let found = run(&Draft { name: Some("Study group for learning Python"), ..Draft::default() }, 10);
        assert_eq!(ids(&found), vec![7], "{found:?}");
    }

    #[test]
    fn words_found_in_many_cohorts_weigh_little() {
        let names: Vec<String> = (1..=30).map(|i| format!("Topic{i} for beginners")).collect();
        let mut data: Vec<Candidate<'_>> = names
            .iter()
            .zip(1..)
            .map(|(name, id)| Candidate { id, name, domain: "", purpose: "", tags: &[] })
            .collect();
        data.push(Candidate {
            id: 99,
            name: "Pottery",
            domain: "Ceramics",
            purpose: "Throwing on the wheel.",
            tags: &[],
        });
        let found = rank(&Draft { name: Some("Pottery for beginners"), ..Draft::default() }, &data, 10);
        assert_eq!(ids(&found), vec![99], "{found:?}");
    }

    #[test]
    fn tags_match_as_normalised_sets() {
        let wanted = tags(&["Async", "TOKIO", " rust "]);
        let found = run(&Draft { tags: &wanted, ..Draft::default() }, 3);
        assert_eq!(found.first().map(|m| m.id), Some(3), "{found:?}");
        assert!(found[0].reasons.contains(&"shares tags rust, async, tokio".to_owned()), "{found:?}");
        let typo = tags(&["tokoi"]);
        let found = run(&Draft { tags: &typo, ..Draft::default() }, 3);
        assert_eq!(ids(&found), vec![3], "{found:?}");
    }

    #[test]
    fn reasons_say_what_matched() {
        let found = run(
            &Draft {
                name: Some("Async Rust"),
                domain: Some("Rust programming"),
                purpose: Some("Tokio, and tesing it"),
                tags: &[],
            },
            1,
        );
        assert_eq!(found[0].id, 3);
        assert_eq!(
            found[0].reasons,
            vec!["same domain", "same name", "tags include tokio", "purpose mentions tesing ≈ testing"],
            "{found:?}"
        );
        let found = run(&Draft { name: Some("Conversación en español B1"), ..Draft::default() }, 3);
        assert_eq!(found.first().map(|m| m.id), Some(4), "{found:?}");
    }

    #[test]
    fn an_empty_draft_matches_nothing() {
        assert!(run(&Draft::default(), 10).is_empty());
        let blank = tags(&["", "  ", "the"]);
        assert!(run(&Draft { name: Some("   "), domain: Some(""), purpose: Some("…!?"), tags: &blank }, 10).is_empty());
        assert!(run(&Draft { name: Some("Rust"), ..Draft::default() }, 0).is_empty(), "limit 0");
        assert!(rank(&Draft { name: Some("Rust"), ..Draft::default() }, &[], 10).is_empty(), "no candidates");
    }

    #[test]
    fn ranking_is_deterministic_and_independent_of_input_order() {
        let draft = Draft { name: Some("Rust"), domain: Some("programming"), ..Draft::default() };
        let data = cohorts();
        let mut candidates: Vec<Candidate<'_>> = data
            .iter()
            .map(|(id, name, domain, purpose, tags)| Candidate { id: *id, name, domain, purpose, tags })
            .collect();
        let first = rank(&draft, &candidates, 10);
        assert_eq!(first, rank(&draft, &candidates, 10));
        candidates.reverse();
        assert_eq!(first, rank(&draft, &candidates, 10));
        // Identical cohorts tie, and ties go to the smaller id.
        let twin = Candidate { id: 8, name: "Rust", domain: "", purpose: "", tags: &[] };
        let twins = [twin, Candidate { id: 2, ..twin }];
        let found = rank(&draft, &twins, 10);
        assert_eq!(ids(&found), vec![2, 8]);
        assert_eq!(found[0].score, found[1].score);
    }

    #[test]
    fn huge_input_is_cut_not_choked_on() {
        let long = "rust ".repeat(50_000) + &"x".repeat(100_000);
        let many: Vec<String> = (0..1_000).map(|i| format!("tag{i}")).collect();
        let draft = Draft { name: Some(&long), domain: Some(&long), purpose: Some(&long), tags: &many };
        let found = run(&draft, 10);
        assert!(found.iter().any(|m| m.id == 1));
        assert!(words(&long, usize::MAX).len() <= MAX_WORDS_PER_FIELD);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn candidate_strategy() -> impl Strategy<Value = (i64, String, String, String, Vec<String>)> {
            (
                any::<i64>(),
                ".{0,60}",
                "[a-zA-Zé ]{0,30}",
                "\\PC{0,200}",
                proptest::collection::vec("[a-z#+. -]{0,12}", 0..5),
            )
        }

        proptest! {
            #[test]
            fn rank_never_panics_and_scores_stay_in_range(
                name in proptest::option::of("\\PC{0,80}"),
                domain in proptest::option::of("[a-zA-Z ]{0,40}"),
                purpose in proptest::option::of(".{0,200}"),
                draft_tags in proptest::collection::vec(".{0,20}", 0..6),
                data in proptest::collection::vec(candidate_strategy(), 0..12),
                limit in 0usize..15,
            ) {
                let draft = Draft { name: name.as_deref(), domain: domain.as_deref(), purpose: purpose.as_deref(), tags: &draft_tags };
                let candidates: Vec<Candidate<'_>> = data
                    .iter()
                    .map(|(id, name, domain, purpose, tags)| Candidate { id: *id, name, domain, purpose, tags })
                    .collect();
                let found = rank(&draft, &candidates, limit);
                prop_assert!(found.len() <= limit);
                for pair in found.windows(2) {
                    prop_assert!(pair[0].score > pair[1].score || (pair[0].score == pair[1].score && pair[0].id <= pair[1].id));
                }
                for m in &found {
                    prop_assert!((MIN_SCORE..=1.0).contains(&m.score), "{m:?}");
                    prop_assert!(!m.reasons.is_empty(), "{m:?}");
                }
            }

            #[test]
            fn a_cohort_matches_itself_best(
                name in "[a-z]{5,10} [a-z]{5,10}",
                others in proptest::collection::vec("[a-z]{5,10} [a-z]{5,10}", 0..8),
            ) {
                let mut candidates = vec![Candidate { id: 0, name: &name, domain: "", purpose: "", tags: &[] }];
                candidates.extend(others.iter().zip(1..).map(|(n, id)| Candidate { id, name: n, domain: "", purpose: "", tags: &[] }));
                prop_assume!(!words(&name, usize::MAX).is_empty());
                let found = rank(&Draft { name: Some(&name), ..Draft::default() }, &candidates, 1);
                prop_assert_eq!(found.first().map(|m| m.id), Some(0));
                prop_assert!(found.first().is_some_and(|m| m.score > 0.999_999), "{found:?}");
            }
        }
    }
}
