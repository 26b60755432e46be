//! Contract `masthead:plugin@0.1.0` (`wit/v0.1.0/`): its generated bindings, the conversions
//! between them and the host's [`model`](super::model), and the host side of its `host`
//! interface. A later contract version gets a module of its own beside this one; this one is
//! never edited once released, so plugins built against it keep loading.

use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

use super::model;
use super::runtime::State;

wasmtime::component::bindgen!({
    path: "wit/v0.1.0",
    world: "plugin",
});

// `self::`: under rustdoc the crate `masthead` is in scope too, and the WIT namespace shares its
// name.
use self::masthead::plugin::types as t;

/// The name of the interface a component of this version exports.
pub const HOOKS: &str = "masthead:plugin/hooks@0.1.0";

/// Defines this version's `host` interface in `linker`.
pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    masthead::plugin::host::add_to_linker::<State, HasSelf<State>>(linker, |s| s)
}

/// A component of this version, instantiated.
pub struct Instance(Plugin);

impl Instance {
    /// Instantiates `pre` in `store`.
    pub fn new(pre: &PluginPre<State>, store: &mut Store<State>) -> wasmtime::Result<Instance> {
        pre.instantiate(store).map(Instance)
    }

    /// The plugin's config schema.
    pub fn config_schema(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Vec<model::ConfigKey>> {
        let keys = self.0.masthead_plugin_hooks().call_config_schema(store)?;
        Ok(keys.into_iter().map(Into::into).collect())
    }

    /// Calls the hook of `event`.
    pub fn call(
        &self,
        store: &mut Store<State>,
        event: &model::Event,
    ) -> wasmtime::Result<model::Decision> {
        let hooks = self.0.masthead_plugin_hooks();
        Ok(match event {
            model::Event::Follow { actor, target } => {
                let d = hooks.call_on_follow(
                    store,
                    &t::FollowEvent {
                        actor: actor.into(),
                        target: target.clone(),
                    },
                )?;
                model::Decision {
                    actions: d.actions.into_iter().map(Into::into).collect(),
                    ..model::Decision::of(match d.verdict {
                        t::FollowVerdict::Accept => model::Verdict::Accept,
                        t::FollowVerdict::Reject(r) => model::Verdict::Reject(r),
                        t::FollowVerdict::Hold(r) => model::Verdict::Hold(r),
                    })
                }
            }
            model::Event::Note {
                actor,
                target,
                kind,
                note,
            } => {
                let d = hooks.call_on_note(
                    store,
                    &t::NoteEvent {
                        actor: actor.into(),
                        target: target.clone(),
                        kind: match kind {
                            model::NoteKind::Reply => t::NoteKind::Reply,
                            model::NoteKind::Mention => t::NoteKind::Mention,
                        },
                        note: note.into(),
                    },
                )?;
                model::Decision {
                    actions: d.actions.into_iter().map(Into::into).collect(),
                    rewrites: d
                        .rewrites
                        .into_iter()
                        .map(|r| match r {
                            t::Rewrite::StripMedia => model::Rewrite::StripMedia,
                            t::Rewrite::ContentWarning(w) => model::Rewrite::ContentWarning(w),
                        })
                        .collect(),
                    ..model::Decision::of(match d.verdict {
                        t::NoteVerdict::Accept => model::Verdict::Accept,
                        t::NoteVerdict::Reject(r) => model::Verdict::Reject(r),
                        t::NoteVerdict::Hold(r) => model::Verdict::Hold(r),
                        t::NoteVerdict::Hide(r) => model::Verdict::Hide(r),
                    })
                }
            }
            model::Event::Reaction {
                actor,
                target,
                kind,
                post,
                comment,
                objects,
            } => {
                let v = hooks.call_on_reaction(
                    store,
                    &t::ReactionEvent {
                        actor: actor.into(),
                        target: target.clone(),
                        kind: match kind {
                            model::ReactionKind::Like => t::ReactionKind::Like,
                            model::ReactionKind::Boost => t::ReactionKind::Boost,
                            model::ReactionKind::Report => t::ReactionKind::Report,
                        },
                        post: post.as_ref().map(Into::into),
                        comment: comment.clone(),
                        objects: objects.clone(),
                    },
                )?;
                model::Decision::of(match v {
                    t::ReactionVerdict::Count => model::Verdict::Accept,
                    t::ReactionVerdict::Ignore(r) => model::Verdict::Ignore(r),
                    t::ReactionVerdict::Escalate(r) => model::Verdict::Escalate(r),
                })
            }
            model::Event::Outgoing { post } => {
                let d = hooks.call_on_outgoing(
                    store,
                    &t::OutgoingPost {
                        actor: post.actor.clone(),
                        slug: post.slug.clone(),
                        title: post.title.clone(),
                        markdown: post.markdown.clone(),
                        hashtags: post.hashtags.clone(),
                        content_warning: post.content_warning.clone(),
                        visibility: post.visibility.into(),
                        language: post.language.clone(),
                        in_reply_to: post.in_reply_to.clone(),
                    },
                )?;
                model::Decision {
                    content_warning: d.content_warning,
                    markdown: d.markdown,
                    add_hashtags: d.add_hashtags,
                    ..model::Decision::of(match d.verdict {
                        t::OutgoingVerdict::Publish => model::Verdict::Accept,
                        t::OutgoingVerdict::Veto(r) => model::Verdict::Veto(r),
                    })
                }
            }
        })
    }
}

impl From<&model::RemoteActor> for t::RemoteActor {
    fn from(a: &model::RemoteActor) -> Self {
        t::RemoteActor {
            id: a.id.clone(),
            domain: a.domain.clone(),
            handle: a.handle.clone(),
            name: a.name.clone(),
            account_age_days: a.account_age_days,
            follower_count: a.follower_count,
            bot: a.bot,
            follows_us: a.follows_us,
        }
    }
}

impl From<model::Visibility> for t::Visibility {
    fn from(v: model::Visibility) -> Self {
        match v {
            model::Visibility::Public => t::Visibility::Public,
            model::Visibility::Unlisted => t::Visibility::Unlisted,
            model::Visibility::Followers => t::Visibility::Followers,
            model::Visibility::Direct => t::Visibility::Direct,
        }
    }
}

impl From<&model::OurPost> for t::OurPost {
    fn from(p: &model::OurPost) -> Self {
        t::OurPost {
            actor: p.actor.clone(),
            slug: p.slug.clone(),
            url: p.url.clone(),
            title: p.title.clone(),
            text: p.text.clone(),
            hashtags: p.hashtags.clone(),
        }
    }
}

impl From<&model::Note> for t::Note {
    fn from(n: &model::Note) -> Self {
        t::Note {
            id: n.id.clone(),
            url: n.url.clone(),
            text: n.text.clone(),
            html: n.html.clone(),
            summary: n.summary.clone(),
            links: n.links.clone(),
            mentions: n.mentions.clone(),
            hashtags: n.hashtags.clone(),
            attachments: n
                .attachments
                .iter()
                .map(|a| t::Attachment {
                    url: a.url.clone(),
                    media_type: a.media_type.clone(),
                    description: a.description.clone(),
                })
                .collect(),
            language: n.language.clone(),
            visibility: n.visibility.into(),
            in_reply_to: n.in_reply_to.clone(),
            answers: n.answers.as_ref().map(Into::into),
            published: n.published.clone(),
        }
    }
}

impl From<t::Action> for model::Action {
    fn from(a: t::Action) -> Self {
        match a {
            t::Action::Reply(m) => model::Action::Reply(m),
            t::Action::Label(l) => model::Action::Label(l),
            t::Action::Note(n) => model::Action::Note(n),
        }
    }
}

impl From<t::ConfigKey> for model::ConfigKey {
    fn from(k: t::ConfigKey) -> Self {
        model::ConfigKey {
            name: k.name,
            ty: match k.type_ {
                t::ConfigType::String => model::ConfigType::String,
                t::ConfigType::Integer => model::ConfigType::Integer,
                t::ConfigType::Float => model::ConfigType::Float,
                t::ConfigType::Boolean => model::ConfigType::Boolean,
                t::ConfigType::StringList => model::ConfigType::StringList,
                t::ConfigType::Table => model::ConfigType::Table,
                t::ConfigType::TableList => model::ConfigType::TableList,
            },
            required: k.required,
            doc: k.doc,
        }
    }
}

impl t::Host for State {}

impl masthead::plugin::host::Host for State {
    fn log(&mut self, level: t::Level, message: String) {
        let message: String = message
            .chars()
            .take(super::runtime::MAX_LOG_CHARS)
            .collect();
        let (name, version) = (&*self.plugin.name, &*self.plugin.version);
        match level {
            t::Level::Debug => tracing::debug!(plugin = name, version, "{message}"),
            t::Level::Info => tracing::info!(plugin = name, version, "{message}"),
            t::Level::Warn => tracing::warn!(plugin = name, version, "{message}"),
            t::Level::Error => tracing::error!(plugin = name, version, "{message}"),
        }
        if let t::Level::Error = level {
            self.last_error = Some(message);
        }
    }

    fn config(&mut self) -> String {
        self.plugin.config_json.clone()
    }

    fn kv_get(&mut self, key: String) -> Option<Vec<u8>> {
        self.kv_get(&key)
    }

    fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), String> {
        self.kv_set(&key, &value, ttl_seconds)
    }

    fn kv_add(&mut self, key: String, by: i64, ttl_seconds: Option<u32>) -> Result<i64, String> {
        self.kv_add(&key, by, ttl_seconds)
    }

    fn kv_delete(&mut self, key: String) {
        self.kv_delete(&key)
    }

    fn now_ms(&mut self) -> i64 {
        self.clock.now_ms()
    }

    fn find_post(&mut self, actor: String, slug: String) -> Option<t::OurPost> {
        self.lookups.post(&actor, &slug).as_ref().map(Into::into)
    }

    fn is_follower(&mut self, actor: String, remote: String) -> bool {
        self.lookups.is_follower(&actor, &remote)
    }

    fn follower_count(&mut self, actor: String) -> u32 {
        self.lookups.follower_count(&actor)
    }
}
