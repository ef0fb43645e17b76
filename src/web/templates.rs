//! The minijinja environment with every page template embedded in the
//! binary. Auto-escaping is on for `.html` templates.

use minijinja::{Environment, Value};

pub struct Templates {
    env: Environment<'static>,
}

macro_rules! template {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)),
        )
    };
}

const TEMPLATES: &[(&str, &str)] = &[
    template!("base.html"),
    template!("login.html"),
    template!("register.html"),
    template!("chat.html"),
    template!("error.html"),
    template!("account.html"),
    template!("invite.html"),
    template!("reset.html"),
    template!("admin.html"),
];

impl Templates {
    /// Compiles every template; an error names the broken one.
    pub fn new() -> Result<Templates, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Templates { env })
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}
