//! `masthead check`: one fixture folder per bad input under tests/fixtures/invalid, each checked
//! for the exact text a person sees and the exit code.

use std::path::Path;
use std::process::Command;

/// `masthead check --config <config>`: the exit code and what it printed.
fn check(config: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_masthead"))
        .args(["check", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// Checks `tests/fixtures/invalid/<case>` and expects exactly `code` and `out`.
fn expect(case: &str, code: i32, out: &str) {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invalid")
        .join(case)
        .join("site.toml");
    let (got_code, got_out) = check(&config);
    assert_eq!(got_out, out, "{case}");
    assert_eq!(got_code, code, "{case}: {got_out}");
}

/// `name: case => exit code, exact output;` becomes the test `name` of the fixture `case`.
macro_rules! check_cases {
    ($($(#[$doc:meta])* $name:ident: $case:literal => $code:literal, $out:literal;)*) => {
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                expect($case, $code, $out);
            }
        )*
    };
}

check_cases! {
    errors_when_a_post_has_no_front_matter: "missing-front-matter" => 1,
        "error: content/news/no-front-matter.md:1: no front matter: a post starts with +++ (TOML) or --- (YAML) on its first line; this post is not published until it is fixed\n1 post ready; 1 error, 0 warnings\n";
    errors_when_a_date_is_not_a_date: "bad-date" => 1,
        "error: content/news/when.md:3: front matter: expected a date like 2026-11-20 or 2026-11-20T09:00:00Z for `date`, got \"yesterday\"; this post is not published until it is fixed\n1 post ready; 1 error, 0 warnings\n";
    errors_when_site_toml_has_an_unknown_key: "unknown-key" => 1,
        "error: site.toml:4: actor #1: has no handle (add handle = \"news\", the name in @news@your.domain)\nerror: site.toml:5: unknown key `handel` in [[actor]] (did you mean `handle`?)\n0 posts ready; 2 errors, 0 warnings\n";
    /// A duplicate slug is a warning: exit code 0.
    warns_when_two_posts_share_a_slug: "duplicate-slug" => 0,
        "warning: content/news/b.md:1: slug \"budget\" is also used by content/news/a.md; only the first is published (set a different `slug` in front matter)\n2 posts ready; 0 errors, 1 warning\n";
    errors_when_a_handle_has_a_space: "bad-handle" => 1,
        "error: site.toml:5: actor \"news desk\": handle may only contain a-z, 0-9 and _ (got a space)\n0 posts ready; 1 error, 0 warnings\n";
    errors_when_an_image_is_missing: "missing-image" => 1,
        "error: content/news/photo.md:8: image \"missing.png\" not found (looked for content/news/missing.png); add the file or fix the path; this post is not published until it is fixed\n1 post ready; 1 error, 0 warnings\n";
    /// The database with the private keys, site.toml, and a text file named .png: each named
    /// with its line, and that post is not published; the post with a real image is.
    errors_when_a_post_names_a_file_that_is_not_a_publishable_image: "unpublishable-image" => 1,
        "error: content/news/leak.md:6: image \"/.masthead/masthead.db\" is in a hidden folder or file (a name starts with \".\"), which is never published (put the image under content/news/ with a name that does not start with \".\"); this post is not published until it is fixed\nerror: content/news/leak.md:8: image \"../../site.toml\" is not an image file inside the content folders (put the image under content/news/ and link it from there); this post is not published until it is fixed\nerror: content/news/leak.md:10: image \"notes.png\" (content/news/notes.png) is not a PNG, JPEG, GIF, WebP or AVIF image by its content (convert it to PNG or JPEG, or fix the path); this post is not published until it is fixed\n1 post ready; 3 errors, 0 warnings\n";
}

#[test]
fn can_pass_the_demo_site_with_warnings_only() {
    let (code, stdout) = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("site.toml"));
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("error:"), "{stdout}");
}

/// Writes `name` into the actor folder `folder`: front matter with only `date`, then `text`.
fn write_post(folder: &Path, name: &str, date: &str, text: &str) {
    let post = format!("+++\ndate = {date}\n+++\n{text}\n");
    std::fs::write(folder.join(name), post).unwrap();
}

#[test]
fn can_note_scheduled_posts_and_new_posts_too_old_to_push() {
    let dir = tempfile::tempdir().unwrap();
    let news = dir.path().join("content/news");
    std::fs::create_dir_all(&news).unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"news\"\n",
    )
    .unwrap();
    write_post(&news, "hello.md", "2026-11-20T09:00:00Z", "Hello.");
    // Without a store every post is part of a first scan, which pushes nothing: no note.
    let (code, out) = check(&config);
    assert_eq!(
        (code, out.as_str()),
        (0, "1 post ready; 0 errors, 0 warnings\n")
    );

    // Served once: hello.md is known. Then an old post and one for 2099 are added.
    let site = masthead::config::Site::load(&config).unwrap().site;
    drop(masthead::app::App::open(site).unwrap());
    write_post(
        &news,
        "archive.md",
        "2025-01-15T09:00:00Z",
        "From the archive.",
    );
    write_post(&news, "later.md", "2099-01-01", "Later.");
    let (code, out) = check(&config);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "note: content/news/later.md is scheduled for 2099-01-01T00:00:00Z: it answers 404 until then, and goes to followers then\n\
             note: content/news/archive.md is new but dated 2025-01-15T09:00:00Z, more than 6 h ago: it goes to the outbox without being pushed to followers (give it a later `date`, or raise push_window_hours under [site])\n\
             2 posts ready; 0 errors, 0 warnings\n"
        )
    );
}
