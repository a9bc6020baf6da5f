import MPIPlug

/// The console at `/`: a page that calls the v1 API from the browser with `fetch` (Connect JSON):
/// health, the cluster (`GetClusterStatus`, live), training (`GetTrainingStatus`, the loss per ALS
/// iteration, a `Train` button), a prediction for a user (listed and drawn by position), an event
/// ingested, the call as curl, and Connect errors with their field violations. Plain HTML, script and style in `Console/`,
/// compiled into the binary (SwiftPM's `embedInCode`): no build step, nothing loaded from elsewhere.
enum GeoPredictConsole {
    static let files = [
        StaticFile(path: "/", contentType: "text/html; charset=utf-8", body: PackageResources.index_html),
        StaticFile(path: "/console.js", contentType: "text/javascript; charset=utf-8", body: PackageResources.console_js),
        StaticFile(path: "/console.css", contentType: "text/css; charset=utf-8", body: PackageResources.console_css),
    ]
}
