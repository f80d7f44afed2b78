//! "Did you mean ...?": the closest valid name to a mistyped one, for every unknown-name
//! error of the macros (schemes, permissions, throttles, settings options).

/// The candidate closest to `name`, if one is close enough to be a likely typo:
///
/// - the same name in another letter case (`basic` for `Basic`);
/// - an edit distance (insertions, deletions, substitutions, transpositions; ignoring case)
///   of at most a third of the candidate's length, at least 1 (`Tokn` for `Token`);
/// - the start of the candidate, at least 4 letters long (`IsAdmin` for `IsAdminUser`,
///   `Oauth` for `OAuth2`).
///
/// Ties go to the earlier candidate.
pub(crate) fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            return None;
        }
        let cand = candidate.to_lowercase();
        let score = if cand == lower {
            Some(0)
        } else if lower.chars().count() >= 4 && cand.starts_with(&lower) {
            Some(1 + cand.len() - lower.len())
        } else {
            let distance = edit_distance(&lower, &cand);
            (distance <= (cand.chars().count() / 3).max(1)).then_some(distance)
        };
        if let Some(score) = score
            && best.is_none_or(|(b, _)| score < b)
        {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `"; did you mean `X`?"` for the [`closest`] candidate, or nothing.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, candidates).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default()
}

/// The optimal string alignment distance between `a` and `b` (Levenshtein with adjacent
/// transpositions), by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMES: &[&str] = &["Basic", "Token", "Jwt", "Session", "OAuth2"];
    const PERMISSIONS: &[&str] = &["AllowAny", "IsAuthenticated", "IsAdminUser", "IsAuthenticatedOrReadOnly"];

    #[test]
    fn typos_find_their_name() {
        assert_eq!(closest("Tokn", SCHEMES.iter().copied()), Some("Token"));
        assert_eq!(closest("basic", SCHEMES.iter().copied()), Some("Basic"));
        assert_eq!(closest("JWT", SCHEMES.iter().copied()), Some("Jwt"));
        assert_eq!(closest("Oauth", SCHEMES.iter().copied()), Some("OAuth2"));
        assert_eq!(closest("Sesion", SCHEMES.iter().copied()), Some("Session"));
        assert_eq!(closest("IsAdmin", PERMISSIONS.iter().copied()), Some("IsAdminUser"));
        assert_eq!(closest("IsAuthenticatd", PERMISSIONS.iter().copied()), Some("IsAuthenticated"));
        assert_eq!(closest("tokne", ["token", "throttle"]), Some("token"));
    }

    #[test]
    fn other_names_find_nothing() {
        assert_eq!(closest("ApiKey", SCHEMES.iter().copied()), None);
        assert_eq!(closest("Bearer", SCHEMES.iter().copied()), None);
        assert_eq!(closest("IsOwner", PERMISSIONS.iter().copied()), None);
        assert_eq!(closest("Token", SCHEMES.iter().copied()), None);
        assert_eq!(closest("Is", PERMISSIONS.iter().copied()), None);
    }
}
