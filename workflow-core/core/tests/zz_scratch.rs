use rex_core::*;
#[test]
fn print_all() {
    let opts = ValidateOptions::with_known_agents(["noop", "echo", "sleep", "fail", "scraper"]);
    let mut files: Vec<_> = std::fs::read_dir("tests/bad").unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let name = f.display().to_string();
        match load(&bytes, Some(&name), &opts) {
            Ok(_) => println!("OK?! {name}"),
            Err(e) => { println!("{e}"); for p in &e.problems { println!("    {:?} field={:?} step={:?} line={:?} col={:?}", p.code, p.field, p.step, p.line, p.column); } }
        }
    }
}
