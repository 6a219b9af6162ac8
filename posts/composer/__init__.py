"""The composer: write once for many channels, see each network's verdict as you type, then schedule.

One form serves new posts and edits. Everything it shows is rebuilt from what was posted (parts,
per-channel texts, options, chosen channels, uploaded media and their alt text), never from the
session, so an invalid submit, a new part, a split or an upload without JavaScript loses nothing that
was typed. Posts are written only through posts.composing; the live checks call its validate(), which
asks each channel's adapter offline, so the counters and the final refusal can never disagree.

Buttons in the form carry name="action": without JavaScript they submit the whole form to the page,
which applies the action and renders the page again; with htmx the same buttons post to the same
views (or to the split endpoint) and get back just the parts of the page that changed.

    choices.py   what the form offers: languages, modes, time zones, and reading a wall time
    state.py     the form as posted (or as first shown) -> ComposerState -> composing.Draft
    actions.py   the buttons other than the main one: parts added, removed or split, images removed
    live.py      the live panel: counters, problems, notices and the schedule note
    preview.py   each chosen channel's preview panel, and the link card under a link
    media.py     images: uploads (with the form or from the drop zone), alt text, removal
    page.py      what the page template is given
    views.py     the views and their URLs
"""
