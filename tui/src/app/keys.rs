//! Keys: what a key press does in each mode (browsing, searching, a dialog, a form),
//! looked up in the key table.

use super::{App, Effect, Mode, Purpose};
use crate::form::Submit;
use crate::keymap::{Action, Screen, lookup};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Rows a PageUp/PageDown moves.
const PAGE: usize = 10;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let action = lookup(&key, self.when(), self.screen);
        if action == Some(Action::Quit) {
            return vec![Effect::Quit];
        }
        match self.mode.clone() {
            Mode::Browsing => action.map(|a| self.browse(a, &key)).unwrap_or_default(),
            Mode::Searching => {
                match action {
                    Some(Action::Confirm) => {
                        self.mode = Mode::Browsing;
                        return self.search_in_daemon();
                    }
                    Some(Action::Cancel) => {
                        self.mode = Mode::Browsing;
                        return self.set_filter(String::new());
                    }
                    _ => {
                        let mut filter = self.filter().to_owned();
                        if edit(&mut filter, &key) {
                            return self.set_filter(filter);
                        }
                    }
                }
                Vec::new()
            }
            Mode::Help(scroll) => {
                self.mode = match action {
                    Some(Action::Cancel) => Mode::Browsing,
                    Some(Action::Up) => Mode::Help(scroll.saturating_sub(1)),
                    Some(Action::Down) => Mode::Help(scroll.saturating_add(1)),
                    _ => Mode::Help(scroll),
                };
                Vec::new()
            }
            Mode::Secret(_) | Mode::Entry(_) => {
                if action == Some(Action::Cancel) {
                    self.mode = Mode::Browsing;
                }
                Vec::new()
            }
            Mode::Confirm(confirm) => match action {
                Some(Action::Confirm) => {
                    self.mode = Mode::Browsing;
                    vec![self.send(confirm.call, Purpose::Change(confirm.done))]
                }
                Some(Action::Cancel) => {
                    self.mode = Mode::Browsing;
                    self.say("cancelled", false);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Mode::Form(mut form) => {
                if form.waiting {
                    return Vec::new();
                }
                let effects = match action {
                    Some(Action::Cancel) => {
                        self.mode = Mode::Browsing;
                        return Vec::new();
                    }
                    Some(Action::NextField) => {
                        form.focus = (form.focus + 1) % form.fields.len();
                        Vec::new()
                    }
                    Some(Action::PrevField) => {
                        form.focus = (form.focus + form.fields.len() - 1) % form.fields.len();
                        Vec::new()
                    }
                    Some(Action::Confirm) => match form.submit(self.roles()) {
                        Err(problem) => {
                            form.error = Some(problem);
                            Vec::new()
                        }
                        Ok(Submit::Send { call, done }) => {
                            form.error = None;
                            form.waiting = true;
                            self.mode = Mode::Form(form);
                            return vec![self.send(call, Purpose::Submit(done))];
                        }
                        Ok(Submit::Confirm(confirm)) => {
                            self.mode = Mode::Confirm(confirm);
                            return Vec::new();
                        }
                    },
                    _ => {
                        if let Some(field) = form.fields.get_mut(form.focus) {
                            edit(&mut field.value, &key);
                        }
                        Vec::new()
                    }
                };
                self.mode = Mode::Form(form);
                effects
            }
        }
    }

    /// Sets the current list's search; clearing one the daemon answered loads the
    /// first pages again.
    fn set_filter(&mut self, filter: String) -> Vec<Effect> {
        let cleared = filter.is_empty();
        if let Some(view) = self.view_mut() {
            view.filter = filter;
            view.selected = 0;
        }
        if self.screen == Screen::Users {
            self.detail = None;
        }
        if cleared { self.unsearch() } else { Vec::new() }
    }

    fn go(&mut self, screen: Screen) -> Vec<Effect> {
        self.screen = screen;
        self.refresh_screen()
    }

    fn move_selection(&mut self, delta: isize, to_end: Option<bool>) -> Vec<Effect> {
        let len = self.list_len();
        if self.screen == Screen::Audit {
            if self.follow {
                self.audit_view.selected = len.saturating_sub(1);
            }
            self.follow = to_end == Some(true);
        }
        if let Some(view) = self.view_mut() {
            match to_end {
                Some(true) => view.selected = len.saturating_sub(1),
                Some(false) => view.selected = 0,
                None => view.step(len, delta),
            }
        }
        let mut effects = if self.screen == Screen::Users {
            self.load_detail()
        } else {
            Vec::new()
        };
        effects.extend(self.more_if_near_the_end());
        effects
    }

    fn browse(&mut self, action: Action, key: &KeyEvent) -> Vec<Effect> {
        match action {
            Action::Help => self.mode = Mode::Help(0),
            Action::NextScreen => return self.go(self.screen.cycle(1)),
            Action::PrevScreen => return self.go(self.screen.cycle(-1)),
            Action::GoTo => {
                if let KeyCode::Char(c) = key.code
                    && let Some(screen) = c
                        .to_digit(10)
                        .and_then(|d| Screen::ALL.get((d as usize).wrapping_sub(1)))
                {
                    return self.go(*screen);
                }
            }
            Action::Up => return self.move_selection(-1, None),
            Action::Down => return self.move_selection(1, None),
            Action::PageUp => return self.move_selection(-(PAGE as isize), None),
            Action::PageDown => return self.move_selection(PAGE as isize, None),
            Action::Home => return self.move_selection(0, Some(false)),
            Action::End => return self.move_selection(0, Some(true)),
            Action::Reload => return self.reload(),
            Action::Search => self.mode = Mode::Searching,
            Action::Clear => {
                if !self.filter().is_empty() {
                    return self.set_filter(String::new());
                } else if self.screen == Screen::Users {
                    self.detail = None;
                }
            }
            Action::Open => return self.open(),
            Action::Follow => {
                self.follow = !self.follow;
                if !self.follow {
                    self.audit_view.selected = self.visible_audit().len().saturating_sub(1);
                }
            }
            other => return self.act(other),
        }
        Vec::new()
    }
}

/// Applies a text-editing key to `text`; true if it changed.
pub fn edit(text: &mut String, key: &KeyEvent) -> bool {
    let plain = !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Char(c) if plain => {
            text.push(c);
            true
        }
        KeyCode::Backspace => text.pop().is_some(),
        _ => false,
    }
}
