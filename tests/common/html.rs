//! Scraping the server's HTML: form fields, meta tags, alerts and labels.

/// The `value` of `<input ... name="{name}" value="...">`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// The `content` of `<meta name="{name}" content="...">`.
pub fn meta_content(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("<meta name=\"{name}\""))?;
    let tag = &html[at..at + html[at..].find('>')?];
    let v = tag.find("content=\"")? + 9;
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// The text of the first element with `role="alert"`.
pub fn alert_text(html: &str) -> Option<String> {
    let at = html.find("role=\"alert\"")?;
    let open_end = at + html[at..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(html[open_end..close].trim().to_string())
}

/// The `name` of the `<input>` that the `<label>` with text `label` names
/// through its `for` attribute.
pub fn labelled_input_name(html: &str, label: &str) -> Option<String> {
    let at = html.find(&format!(">{label}</label>"))?;
    let tag = &html[html[..at].rfind("<label")?..at];
    let f = tag.find("for=\"")? + 5;
    let id = &tag[f..f + tag[f..].find('"')?];
    let id_at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..id_at].rfind('<')?;
    let end = id_at + html[id_at..].find('>')?;
    let input = &html[start..end];
    if !input.starts_with("<input") {
        return None;
    }
    let n = input.find("name=\"")? + 6;
    Some(input[n..n + input[n..].find('"')?].to_string())
}
