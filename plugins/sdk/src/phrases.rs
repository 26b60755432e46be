//! Words and phrases looked for in texts, as whole words and ignoring case: what the keyword
//! rules of the example plugins share. Plain std, so benches/plugins.rs runs this same code
//! natively beside the plugin that calls it.

/// Whether `phrase` occurs in `text` as whole words, ignoring case: `casino` matches "Casino!"
/// but not "casinos"; `crypto giveaway` matches "a crypto  giveaway" (any run of spaces).
/// `phrase` must already be lowercase. To look for several phrases, build [`Phrases`] once.
pub fn contains_words(text: &str, phrase: &str) -> bool {
    Phrases::new([phrase]).find(text).is_some()
}

/// A list of words and phrases to look for in texts, as whole words and ignoring case, split
/// once; each text is lowercased and split into words once, whatever the number of phrases.
pub struct Phrases {
    phrases: Vec<(String, Vec<String>)>,
}

impl Phrases {
    /// The phrases, lowercased (empty ones are dropped).
    pub fn new<S: AsRef<str>>(list: impl IntoIterator<Item = S>) -> Phrases {
        let phrases = list
            .into_iter()
            .map(|p| p.as_ref().trim().to_lowercase())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let words = p.split_whitespace().map(str::to_string).collect();
                (p, words)
            })
            .collect();
        Phrases { phrases }
    }

    /// The first phrase (in list order) that occurs in `text`.
    pub fn find(&self, text: &str) -> Option<&str> {
        let lower = text.to_lowercase();
        let tokens: Vec<&str> = words(&lower).collect();
        self.phrases
            .iter()
            .find(|(_, phrase)| {
                tokens
                    .windows(phrase.len())
                    .any(|w| w.iter().zip(phrase).all(|(a, b)| *a == b.as_str()))
            })
            .map(|(p, _)| p.as_str())
    }
}

/// The words of `text`: runs of letters and digits (with `'` and `-` inside words).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|t| !t.is_empty())
}
