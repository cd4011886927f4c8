//! Policies for scopegate's benchmarks: a generated table of any size, shaped
//! like a large real API (services, resources, ids, sub-resources, method splits).

/// A policy with `routes` routes (a multiple of 4) over `scopes` scopes (a
/// multiple of 2: read/write levels of `scopes / 2` families).
pub fn generated_policy(routes: usize, scopes: usize) -> String {
    let families = (scopes / 2).max(1);
    let mut src = String::with_capacity(routes * 80);
    for f in 0..families {
        src += &format!("[[scope]]\nname = \"area{f}\"\nlevels = [\"read\", \"write\"]\n\n");
    }
    let resources_per_service = 25;
    for r in 0..routes / 4 {
        let (svc, res) = (r / resources_per_service, r % resources_per_service);
        let f = r % families;
        let base = format!("/svc{svc}/v1/res{res}");
        src += &format!("[[route]]\nmatch = \"GET {base}\"\nany_of = [\"area{f}:read\"]\n\n");
        src += &format!("[[route]]\nmatch = \"GET {base}/{{id}}\"\nany_of = [\"area{f}:read\"]\n\n");
        src += &format!("[[route]]\nmatch = \"* {base}/{{id}}\"\nall_of = [\"area{f}:write\"]\n\n");
        src += &format!(
            "[[route]]\nmatch = \"GET {base}/{{id}}/sub/*\"\nany_of = [\"area{f}:read\", \"area{}:read\"]\n\n",
            (f + 1) % families
        );
    }
    src
}

/// Requests spread over a generated table of `routes` routes: (method, target).
pub fn generated_requests(routes: usize) -> Vec<(&'static str, String)> {
    let services = (routes / 4).div_ceil(25);
    (0..64)
        .map(|i| {
            let svc = (i * 7919) % services;
            let res = (i * 31) % 25;
            match i % 4 {
                0 => ("GET", format!("/svc{svc}/v1/res{res}")),
                1 => ("GET", format!("/svc{svc}/v1/res{res}/{}", 1000 + i)),
                2 => ("PUT", format!("/svc{svc}/v1/res{res}/{}?draft=1", 1000 + i)),
                _ => ("GET", format!("/svc{svc}/v1/res{res}/{}/sub/a/b", 1000 + i)),
            }
        })
        .collect()
}

/// What a client of the generated policy holds in the decision benchmarks
/// (a few areas, some at the write level), closed under implication.
pub fn generated_held(policy: &scopegate_core::Policy) -> scopegate_core::Held {
    let granted = policy
        .catalog
        .parse_list("area0:write area1:read area2:read area3:write area4:read")
        .unwrap_or_default();
    policy.catalog.close(&granted)
}
