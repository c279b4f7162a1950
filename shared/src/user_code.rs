//! User codes of the device authorization grant (RFC 8628 §6.1): what a
//! person reads off a device and types at the device page. Drawn from
//! twenty consonants (no vowels, so no words; no `0`/`O` or `1`/`I` to
//! confuse), in a format a setting chooses; read back case-insensitively,
//! ignoring the separators people type or leave out.

use crate::secret::RandomnessUnavailable;

/// The characters a user code is made of.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The fewest random characters a format may have: 20^8 ≈ 2^34.6 codes,
/// against at most `SIGN_IN_LOCKOUT_ATTEMPTS` wrong entries per user and
/// window, while a code lives minutes.
pub const MIN_CHARACTERS: usize = 8;
/// The most.
pub const MAX_CHARACTERS: usize = 16;

/// Characters typed around a code that mean nothing.
fn is_separator(c: char) -> bool {
    matches!(c, '-' | ' ' | '.' | '_')
}

/// What a user code looks like: `X` for each random character, `-` or a
/// space between groups (`XXXX-XXXX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCodeFormat {
    template: String,
}

impl Default for UserCodeFormat {
    fn default() -> Self {
        Self {
            template: "XXXX-XXXX".to_owned(),
        }
    }
}

impl UserCodeFormat {
    /// A format, or why it is none: only `X`, `-` and spaces, starting and
    /// ending with `X`, with 8 to 16 of them.
    pub fn parse(template: &str) -> Result<Self, String> {
        if !template.chars().all(|c| c == 'X' || c == '-' || c == ' ') {
            return Err(format!(
                "{template:?} may hold only X (a character), - and spaces"
            ));
        }
        if !template.starts_with('X') || !template.ends_with('X') {
            return Err(format!("{template:?} must start and end with X"));
        }
        let characters = template.chars().filter(|c| *c == 'X').count();
        if !(MIN_CHARACTERS..=MAX_CHARACTERS).contains(&characters) {
            return Err(format!(
                "{template:?} has {characters} characters; a code needs {MIN_CHARACTERS} to {MAX_CHARACTERS}"
            ));
        }
        Ok(Self {
            template: template.to_owned(),
        })
    }

    /// How many random characters a code has.
    pub fn characters(&self) -> usize {
        self.template.chars().filter(|c| *c == 'X').count()
    }

    /// A new code, as shown to the person.
    pub fn generate(&self) -> Result<String, RandomnessUnavailable> {
        let mut drawn = Vec::with_capacity(self.characters());
        // Rejection sampling: 240 is the largest multiple of 20 in a byte.
        while drawn.len() < self.characters() {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|_| RandomnessUnavailable)?;
            drawn.extend(
                bytes
                    .iter()
                    .filter(|b| **b < 240)
                    .map(|b| ALPHABET[usize::from(*b % 20)] as char),
            );
        }
        let mut drawn = drawn.into_iter();
        Ok(self
            .template
            .chars()
            .map(|c| if c == 'X' { drawn.next().unwrap_or('B') } else { c })
            .collect())
    }

    /// The code a person typed, as it is stored (upper case, separators
    /// gone), or `None` if it cannot be one of this format's.
    pub fn normalise(&self, typed: &str) -> Option<String> {
        if typed.len() > 4 * MAX_CHARACTERS {
            return None;
        }
        let code: String = typed
            .chars()
            .filter(|c| !is_separator(*c))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let fits = code.len() == self.characters() && code.bytes().all(|b| ALPHABET.contains(&b));
        fits.then_some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_drawn_from_the_alphabet_in_the_format() {
        let format = UserCodeFormat::default();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let code = format.generate().unwrap();
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
            assert!(
                code.bytes().filter(|b| *b != b'-').all(|b| ALPHABET.contains(&b)),
                "{code}"
            );
            seen.extend(code.bytes().filter(|b| *b != b'-'));
            assert_eq!(format.normalise(&code).unwrap(), code.replace('-', ""));
        }
        assert_eq!(seen.len(), 20, "every character is drawn");
        let long = UserCodeFormat::parse("XXXX XXXX XXXX").unwrap();
        assert_eq!(long.generate().unwrap().len(), 14);
    }

    #[test]
    fn what_people_type_is_read_back() {
        let format = UserCodeFormat::default();
        for typed in ["BCDF-GHJK", "bcdfghjk", " bcdf ghjk ", "BC.DF_GH-JK"] {
            assert_eq!(format.normalise(typed).as_deref(), Some("BCDFGHJK"), "{typed}");
        }
        for typed in [
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ0",
            "",
            "BCDFGHJ\u{0}K",
        ] {
            assert_eq!(format.normalise(typed), None, "{typed:?}");
        }
        assert_eq!(format.normalise(&"-".repeat(100_000)), None);
    }

    #[test]
    fn formats_have_enough_characters_and_nothing_else() {
        for bad in [
            "XXXX",
            "XXXX-XXX",
            "XXXX/XXXX",
            "-XXXX-XXXX",
            "XXXXXXXXXXXXXXXXX",
            "xxxx-xxxx",
        ] {
            assert!(UserCodeFormat::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(UserCodeFormat::parse("XXXXXXXX").unwrap().characters(), 8);
    }
}
