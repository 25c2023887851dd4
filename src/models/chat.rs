//! A chat model's prompt format, read from its GGUF file's
//! `tokenizer.chat_template`.
//!
//! The template is a Jinja program; nerve does not run Jinja. It recognises
//! ChatML, the format of SmolLM2, Qwen and others:
//!
//! ```text
//! <|im_start|>system\n{system}<|im_end|>\n
//! <|im_start|>user\n{message}<|im_end|>\n
//! <|im_start|>assistant\n{reply}<|im_end|>\n
//! ...
//! <|im_start|>assistant\n            (the generation prompt)
//! ```
//!
//! and takes the default system message the template inserts when the
//! conversation has none (SmolLM2's: "You are a helpful AI assistant named
//! SmolLM, trained by Hugging Face"). Any other template is refused by name.

use crate::error::{Error, Result};
use crate::io::gguf::GgufFile;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The system prompt.
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in chat templates ("system", "user", "assistant").
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// The ChatML format with its default system message.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatTemplate {
    /// Inserted first when a conversation has no system message (None if
    /// the template inserts nothing).
    pub default_system: Option<String>,
}

const START: &str = "<|im_start|>";
const END: &str = "<|im_end|>";

impl ChatTemplate {
    /// The template of a GGUF file; an error if it has none or it is not
    /// ChatML.
    pub fn from_gguf(f: &GgufFile) -> Result<ChatTemplate> {
        let t = f.get_str("tokenizer.chat_template").map_err(|e| {
            e.context("a chat needs the model's prompt format (tokenizer.chat_template)")
        })?;
        ChatTemplate::parse(t).map_err(|e| Error::new(format!("{}: {e}", f.path().display())))
    }

    /// Recognises a ChatML template's text.
    pub fn parse(template: &str) -> Result<ChatTemplate> {
        let chatml = template.contains(START)
            && template.contains(END)
            && template.contains("message['role']")
            && template.contains("message['content']");
        if !chatml {
            let first: String = template.chars().take(80).collect();
            return Err(Error::new(format!(
                "the chat template is not ChatML (<|im_start|>role ... <|im_end|>), the one format \
                 nerve knows; it begins {first:?}"
            )));
        }
        let marker = format!("{START}system\n");
        let default_system = template.find(&marker).and_then(|i| {
            let rest = &template[i + marker.len()..];
            rest.find(END).map(|j| rest[..j].to_string())
        });
        Ok(ChatTemplate { default_system })
    }

    /// One message in ChatML, with its end marker and newline.
    pub fn message(&self, role: Role, content: &str) -> String {
        format!("{START}{}\n{content}{END}\n", role.name())
    }

    /// What opens the assistant's reply.
    pub fn generation_prompt(&self) -> String {
        format!("{START}assistant\n")
    }

    /// The end-of-message marker (the token the reply stops at).
    pub fn end_marker(&self) -> &'static str {
        END
    }

    /// A whole conversation as the template renders it, with the
    /// generation prompt after it: the default system message first when
    /// the conversation does not start with one.
    pub fn render(&self, messages: &[(Role, String)]) -> String {
        let mut s = String::new();
        if messages.first().map(|m| m.0) != Some(Role::System) {
            if let Some(sys) = &self.default_system {
                s += &self.message(Role::System, sys);
            }
        }
        for (role, content) in messages {
            s += &self.message(*role, content);
        }
        s + &self.generation_prompt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_renders_as_jinja_would() {
        let t = ChatTemplate::parse(SMOLLM2).unwrap();
        assert_eq!(
            t.default_system.as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        // The string transformers' apply_chat_template gives for this template.
        assert_eq!(
            t.render(&[(Role::User, "Hi".into())]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[(Role::System, "Be brief.".into()), (Role::User, "Hi".into())]),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn other_templates_are_refused() {
        let e = ChatTemplate::parse("{{ bos_token }}[INST] {{ message['content'] }} [/INST]")
            .unwrap_err();
        assert!(e.message().contains("not ChatML"), "{e}");
    }
}
