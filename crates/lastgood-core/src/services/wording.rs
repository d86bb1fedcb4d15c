//! Every word lastgood says about an event, in every locale: what each Discord event is called
//! and says under its title, the words of a message's fields and title, and what the CI
//! watcher's summary and Discord message say of each action. One table per kind of text, so
//! that a wording is changed (or a locale added) in one place.

use std::fmt;
use std::str::FromStr;

use crate::base::error::{Error, Result};

/// What a message is about; decides its colour, emoji and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Event {
    /// A deploy began.
    DeployStarted,
    /// A deploy finished and the app is healthy.
    DeploySucceeded,
    /// A deploy failed.
    DeployFailed,
    /// An environment was put back on an earlier SHA.
    RolledBack,
    /// CI passed for the deployed SHA.
    CiSucceeded,
    /// CI failed for the deployed SHA.
    CiFailed,
    /// The health probe found the app down.
    HealthDown,
    /// The app answers again.
    HealthRecovered,
    /// The documentation build failed.
    DocsFailed,
    /// Free title and description.
    #[default]
    Custom,
}

impl Event {
    /// Every event, in the order of the contract.
    pub const ALL: [Event; 10] = [
        Event::DeployStarted,
        Event::DeploySucceeded,
        Event::DeployFailed,
        Event::RolledBack,
        Event::CiSucceeded,
        Event::CiFailed,
        Event::HealthDown,
        Event::HealthRecovered,
        Event::DocsFailed,
        Event::Custom,
    ];

    /// The kebab-case name of the contract (`deploy-started`).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::DeployStarted => "deploy-started",
            Event::DeploySucceeded => "deploy-succeeded",
            Event::DeployFailed => "deploy-failed",
            Event::RolledBack => "rolled-back",
            Event::CiSucceeded => "ci-succeeded",
            Event::CiFailed => "ci-failed",
            Event::HealthDown => "health-down",
            Event::HealthRecovered => "health-recovered",
            Event::DocsFailed => "docs-failed",
            Event::Custom => "custom",
        }
    }

    /// Whether this event reports a failure (the only events that may ping `mention-role`).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Event::DeployFailed
                | Event::RolledBack
                | Event::CiFailed
                | Event::HealthDown
                | Event::DocsFailed
        )
    }

    /// The embed colour, 0xRRGGBB.
    pub fn color(self) -> u32 {
        match self {
            Event::DeploySucceeded | Event::CiSucceeded | Event::HealthRecovered => 0x2E_CC_71,
            Event::DeployFailed | Event::CiFailed | Event::HealthDown | Event::DocsFailed => {
                0xE7_4C_3C
            }
            Event::RolledBack => 0xE6_7E_22,
            Event::DeployStarted => 0x34_98_DB,
            Event::Custom => 0x95_A5_A6,
        }
    }

    pub(crate) fn emoji(self) -> &'static str {
        match self {
            Event::DeployStarted => "🚀",
            Event::DeploySucceeded => "🎯",
            Event::DeployFailed => "💥",
            Event::RolledBack => "⏪",
            Event::CiSucceeded => "✅",
            Event::CiFailed => "❌",
            Event::HealthDown => "🔴",
            Event::HealthRecovered => "🟢",
            Event::DocsFailed => "📚",
            Event::Custom => "📣",
        }
    }

    pub(crate) fn label(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::En, Event::DeployStarted) => "Deploy started",
            (Locale::En, Event::DeploySucceeded) => "Deploy succeeded ✅",
            (Locale::En, Event::DeployFailed) => "Deploy failed ❌",
            (Locale::En, Event::RolledBack) => "Rolled back to the last good SHA",
            (Locale::En, Event::CiSucceeded) => "CI passed, SHA validated",
            (Locale::En, Event::CiFailed) => "CI failed",
            (Locale::En, Event::HealthDown) => "App DOWN",
            (Locale::En, Event::HealthRecovered) => "App recovered",
            (Locale::En, Event::DocsFailed) => "Docs build failed",
            (Locale::En, Event::Custom) => "Notification",
            (Locale::Fr, Event::DeployStarted) => "Déploiement démarré",
            (Locale::Fr, Event::DeploySucceeded) => "Déploiement réussi ✅",
            (Locale::Fr, Event::DeployFailed) => "Échec du déploiement ❌",
            (Locale::Fr, Event::RolledBack) => "Rollback vers le dernier SHA validé",
            (Locale::Fr, Event::CiSucceeded) => "CI réussi, SHA validé",
            (Locale::Fr, Event::CiFailed) => "CI en échec",
            (Locale::Fr, Event::HealthDown) => "Application DOWN",
            (Locale::Fr, Event::HealthRecovered) => "Application rétablie",
            (Locale::Fr, Event::DocsFailed) => "Échec de la documentation",
            (Locale::Fr, Event::Custom) => "Notification",
        }
    }

    /// The line under the title when the caller gives no description.
    pub(crate) fn default_description(
        self,
        locale: Locale,
        environment: Option<&str>,
    ) -> Option<String> {
        let prod = environment.is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            e == "prod" || e == "production"
        });
        let text = match (locale, self) {
            (Locale::En, Event::DeployStarted) => "⏳ CI is checking this commit…",
            (Locale::Fr, Event::DeployStarted) => "⏳ CI en cours de vérification...",
            (_, Event::DeploySucceeded) if prod => "PREPROD ✅ → PROD ✅",
            (Locale::En, Event::CiFailed) => "The deployed SHA failed CI.",
            (Locale::Fr, Event::CiFailed) => "Le SHA déployé a échoué au CI.",
            (Locale::En, Event::RolledBack) => "The environment is back on the last good SHA.",
            (Locale::Fr, Event::RolledBack) => "L'environnement est revenu au dernier SHA validé.",
            _ => return None,
        };
        Some(text.to_owned())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
                Error::input(
                    "event",
                    format!("`{s}` is not one of: {}", names.join(", ")),
                )
            })
    }
}

/// The language of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    /// English.
    #[default]
    En,
    /// French, the seed's wording.
    Fr,
}

impl Locale {
    /// `en` or `fr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
        }
    }
}

impl FromStr for Locale {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "en" => Ok(Locale::En),
            "fr" => Ok(Locale::Fr),
            other => Err(Error::input(
                "locale",
                format!("`{other}` is not one of: en, fr"),
            )),
        }
    }
}

/// A word of a Discord message that is not the user's: field names and the title's separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    /// The author field's name.
    Author,
    /// The environment field's name.
    Environment,
    /// The run field's link text.
    ViewTheRun,
    /// Between the environment and the event's label in a title.
    TitleSeparator,
}

impl Term {
    /// The word in `locale`.
    pub(crate) fn text(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::En, Term::Author) => "Author",
            (Locale::Fr, Term::Author) => "Auteur",
            (Locale::En, Term::Environment) => "Environment",
            (Locale::Fr, Term::Environment) => "Environnement",
            (Locale::En, Term::ViewTheRun) => "View the run",
            (Locale::Fr, Term::ViewTheRun) => "Voir le run",
            (Locale::En, Term::TitleSeparator) => " — ",
            (Locale::Fr, Term::TitleSeparator) => " - ",
        }
    }
}

/// The environment as the title names it: upper case, and in French the seed's
/// `PRODUCTION` for `prod` ("🎯 PRODUCTION - Déploiement réussi ✅").
pub(crate) fn environment_title(env: &str, locale: Locale) -> String {
    let lower = env.to_ascii_lowercase();
    if locale == Locale::Fr && (lower == "prod" || lower == "production") {
        return "PRODUCTION".to_owned();
    }
    env.to_uppercase()
}

/// The author as shown: in French, a GitHub login gets the seed's `@` ("Auteur: @user"); a
/// name with spaces, or one already starting with `@`, is shown as given. (Embed fields never
/// ping, and `allowed_mentions` stays empty.)
pub(crate) fn author_text(author: &str, locale: Locale) -> String {
    let login = !author.starts_with('@')
        && !author.contains(char::is_whitespace)
        && author
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '[' || c == ']');
    if locale == Locale::Fr && login {
        format!("@{author}")
    } else {
        author.to_owned()
    }
}

/// What the watcher did, the `action` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// The SHA was validated (or already was, or a newer one is).
    Validated,
    /// The environment was rolled back to the last validated SHA.
    RolledBack,
    /// The rollback could not be done or failed.
    RollbackFailed,
    /// A newer deploy replaced the SHA: nothing touched.
    Superseded,
    /// No completed run within `timeout`, kept.
    TimedOut,
    /// No run appeared within `discovery-timeout`, kept.
    Missing,
    /// The run ended neither in success nor failure, kept.
    Inconclusive,
    /// GitHub could not be asked (rate limited, 5xx, network) before the deadline: no verdict,
    /// the watch stays pending (exit 3) for `resume`.
    Unreachable,
    /// CI passed, but the SHA failed its health gate in this environment: not validated here,
    /// never a rollback target here.
    Unhealthy,
}

impl Action {
    /// The output value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Validated => "validated",
            Action::RolledBack => "rolled-back",
            Action::RollbackFailed => "rollback-failed",
            Action::Superseded => "superseded",
            Action::TimedOut => "timed-out",
            Action::Missing => "missing",
            Action::Inconclusive => "inconclusive",
            Action::Unreachable => "unreachable",
            Action::Unhealthy => "unhealthy",
        }
    }
}

/// The summary's first line, per action (a wording table).
pub(crate) fn headline(act: Action, link: &str, run_link: &str, environment: &str) -> String {
    match act {
        Action::Validated => {
            format!("✅ CI passed for {link}{run_link}: validated on {environment}")
        }
        Action::RolledBack => format!(
            "↩️ CI failed for {link}{run_link}: {environment} rolled back to the last validated SHA"
        ),
        Action::RollbackFailed => {
            format!("❌ CI failed for {link}{run_link} and the rollback of {environment} failed")
        }
        Action::Superseded => format!(
            "⏭️ CI failed for {link}{run_link}, but a newer deploy replaced it: nothing touched"
        ),
        Action::TimedOut => format!("⚠️ No CI verdict for {link}{run_link} in time: kept as is"),
        Action::Unreachable => format!("⚠️ GitHub was unreachable: no CI verdict for {link} yet"),
        Action::Unhealthy => format!(
            "⚠️ CI passed for {link}{run_link}, but it did not pass a health gate on {environment}: not validated there, never a rollback target there"
        ),
        Action::Missing => format!("⚠️ No CI run appeared for {link}: kept as is"),
        Action::Inconclusive => format!("⚠️ CI of {link}{run_link} was inconclusive: kept as is"),
    }
}

/// The Discord title (when it is not the event's) and description of an action, per locale
/// (a wording table).
pub(crate) fn discord_texts(
    act: Action,
    locale: Locale,
    short: &str,
    environment: &str,
) -> (Option<String>, String) {
    let fr = locale == Locale::Fr;
    let env = environment.to_uppercase();
    let description = match (act, fr) {
        (Action::Validated, true) => format!("CI OK : {short} validé"),
        (Action::Validated, false) => format!("CI passed: {short} is validated"),
        (Action::RolledBack, true) => {
            format!("CI en échec sur {short} : retour au dernier SHA validé")
        }
        (Action::RolledBack, false) => {
            format!("CI failed on {short}: rolled back to the last validated SHA")
        }
        (Action::RollbackFailed, true) => {
            format!("CI en échec sur {short} et le retour arrière a échoué")
        }
        (Action::RollbackFailed, false) => format!("CI failed on {short} and the rollback failed"),
        (Action::Superseded, true) => format!(
            "CI en échec sur {short}, déjà remplacé par un déploiement plus récent : rien n'est touché"
        ),
        (Action::Superseded, false) => {
            format!("CI failed on {short}, already replaced by a newer deploy: nothing touched")
        }
        (
            Action::TimedOut
            | Action::Missing
            | Action::Inconclusive
            | Action::Unreachable
            | Action::Unhealthy,
            true,
        ) => {
            let title = format!("⚠️ {env} - pas de verdict CI pour {short}");
            return (Some(title), format!("{} : conservé tel quel", act.as_str()));
        }
        (
            Action::TimedOut
            | Action::Missing
            | Action::Inconclusive
            | Action::Unreachable
            | Action::Unhealthy,
            false,
        ) => {
            let title = format!("⚠️ {env} — no CI verdict for {short}");
            return (Some(title), format!("{}: kept as is", act.as_str()));
        }
    };
    (None, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_and_print() {
        for e in Event::ALL {
            assert_eq!(e.as_str().parse::<Event>().unwrap(), e);
            assert_eq!(e.to_string(), e.as_str());
        }
        let err = "deploy_started".parse::<Event>().unwrap_err().to_string();
        assert!(
            err.contains("input `event`") && err.contains("deploy-started"),
            "{err}"
        );
        assert_eq!("fr".parse::<Locale>().unwrap(), Locale::Fr);
        assert_eq!(Locale::Fr.as_str(), "fr");
        assert!("de".parse::<Locale>().is_err());
        let failures: Vec<_> = Event::ALL.into_iter().filter(|e| e.is_failure()).collect();
        assert_eq!(
            failures,
            [
                Event::DeployFailed,
                Event::RolledBack,
                Event::CiFailed,
                Event::HealthDown,
                Event::DocsFailed
            ]
        );
    }

    #[test]
    fn authors_get_the_seeds_at_sign_in_french_only_when_they_are_logins() {
        assert_eq!(author_text("julienlafrance", Locale::Fr), "@julienlafrance");
        assert_eq!(
            author_text("dependabot[bot]", Locale::Fr),
            "@dependabot[bot]"
        );
        assert_eq!(author_text("@user", Locale::Fr), "@user");
        assert_eq!(
            author_text("Julien Lafrance", Locale::Fr),
            "Julien Lafrance"
        );
        assert_eq!(
            author_text("julien.l@example.org", Locale::Fr),
            "julien.l@example.org"
        );
        assert_eq!(author_text("julienlafrance", Locale::En), "julienlafrance");
        assert_eq!(environment_title("prod", Locale::Fr), "PRODUCTION");
        assert_eq!(environment_title("Production", Locale::Fr), "PRODUCTION");
        assert_eq!(environment_title("preprod", Locale::Fr), "PREPROD");
        assert_eq!(environment_title("prod", Locale::En), "PROD");
    }
}
