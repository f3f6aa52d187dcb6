//! Mail bodies from templates (`crates/server/templates/mail`), plain text and HTML.
//! HTML templates escape every value; text templates do not need to.

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::error::Result;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    let templates: [(&str, &str); 12] = [
        ("meeting.txt", include_str!("../../templates/mail/meeting.txt")),
        ("meeting.html", include_str!("../../templates/mail/meeting.html")),
        ("reminder.txt", include_str!("../../templates/mail/reminder.txt")),
        ("reminder.html", include_str!("../../templates/mail/reminder.html")),
        ("password_reset.txt", include_str!("../../templates/mail/password_reset.txt")),
        ("password_reset.html", include_str!("../../templates/mail/password_reset.html")),
        ("recording_ready.txt", include_str!("../../templates/mail/recording_ready.txt")),
        ("recording_ready.html", include_str!("../../templates/mail/recording_ready.html")),
        ("verify_email.txt", include_str!("../../templates/mail/verify_email.txt")),
        ("verify_email.html", include_str!("../../templates/mail/verify_email.html")),
        ("already_registered.txt", include_str!("../../templates/mail/already_registered.txt")),
        ("already_registered.html", include_str!("../../templates/mail/already_registered.html")),
    ];
    for (name, source) in templates {
        env.add_template(name, source).expect("built-in mail templates parse");
    }
    env
});

/// Renders `<name>.txt` and `<name>.html` with the same context.
pub(crate) fn render(name: &str, ctx: impl Serialize) -> Result<(String, String)> {
    let ctx = minijinja::Value::from_serialize(ctx);
    let text = ENV.get_template(&format!("{name}.txt")).and_then(|t| t.render(&ctx));
    let html = ENV.get_template(&format!("{name}.html")).and_then(|t| t.render(&ctx));
    match (text, html) {
        (Ok(t), Ok(h)) => Ok((t, h)),
        (Err(e), _) | (_, Err(e)) => Err(anyhow::anyhow!("rendering mail template {name}: {e}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_text_is_not() {
        let (text, html) =
            render("password_reset", serde_json::json!({"name": "<Eve & co>", "link": "http://x/?a=1&b=2"})).unwrap();
        assert!(text.contains("Hello <Eve & co>"));
        assert!(html.contains("Hello &lt;Eve &amp; co&gt;"));
    }
}
