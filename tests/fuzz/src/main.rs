//! `splicer-fuzz`: AFL++ runs it with inputs on stdin; `splicer-fuzz seeds
//! DIR` writes the starting corpus (one well-formed input per parser);
//! `splicer-fuzz which FILE` names the parser an input goes to.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, cmd, dir] if cmd == "seeds" => {
            std::fs::create_dir_all(dir).expect("the seeds directory");
            for (name, data) in splicer::fuzz::seeds() {
                std::fs::write(std::path::Path::new(dir).join(name), data).expect("a seed file");
            }
            return;
        }
        [_, cmd, file] if cmd == "which" => {
            let data = std::fs::read(file).expect("the input file");
            println!("{}", splicer::fuzz::target_of(&data));
            return;
        }
        _ => {}
    }
    afl::fuzz!(|data: &[u8]| splicer::fuzz::one(data));
}
