extension Templates {
    static func generateScript(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "proto/generate", contents: #"""
            #!/usr/bin/env bash
            # Regenerates Sources/\#(n.module)/Generated from the .proto files under proto/: the messages
            # (protoc-gen-swift) and the MPIPlug route tables (protoc-gen-mpiplug). The generated code is
            # committed; regenerating must produce no diff.
            #
            #   proto/generate           regenerate in place
            #   proto/generate --check   regenerate into a scratch folder and fail if anything differs
            #
            # The protos may import MPIPlug's options (mpiplug/v1/options.proto, from the MPIPlug checkout's
            # proto/), which import google/protobuf/descriptor.proto: protoc finds that one among its own
            # includes (Debian: libprotobuf-dev's /usr/include).
            #
            # Needs protoc (Debian: protobuf-compiler libprotobuf-dev). The plugins are $PROTOC_GEN_SWIFT and
            # $PROTOC_GEN_MPIPLUG when set; otherwise they are built once into .build/plugins:
            # protoc-gen-swift from the swift-protobuf this package resolves to, protoc-gen-mpiplug from the
            # MPIPlug checkout ($MPIPLUG_PATH, else the default in Package.swift).
            set -euo pipefail
            cd "$(dirname "$0")/.."

            check=0
            case "${1:-}" in
                --check) check=1 ;;
                "") ;;
                *) echo "usage: proto/generate [--check]" >&2; exit 2 ;;
            esac
            command -v protoc >/dev/null || { echo "error: protoc not found (Debian: apt-get install protobuf-compiler)" >&2; exit 1; }

            mpiplug_path="${MPIPLUG_PATH:-$(sed -n 's/^let defaultMPIPlugPath = "\(.*\)"$/\1/p' Package.swift)}"
            [ -d "$mpiplug_path/Sources/MPIPlug" ] || { echo "error: no MPIPlug checkout at '$mpiplug_path'; set MPIPLUG_PATH" >&2; exit 1; }
            mpiplug_path=$(cd "$mpiplug_path" && pwd)
            # protoc runs in proto/ below, so MPIPlug's protos are found by an absolute path.
            mpiplug_protos="$mpiplug_path/proto"
            if ! problem=$(protoc -I "$mpiplug_protos" -o /dev/null mpiplug/v1/options.proto 2>&1); then
                echo "error: protoc cannot read MPIPlug's options (is libprotobuf-dev installed, for google/protobuf/descriptor.proto?): $problem" >&2
                exit 1
            fi

            plugins="$PWD/.build/plugins"
            if [ -z "${PROTOC_GEN_SWIFT:-}" ]; then
                echo "building protoc-gen-swift (once, into .build/plugins)" >&2
                swift package resolve >/dev/null
                protobuf=(--package-path .build/checkouts/swift-protobuf --scratch-path "$plugins/swift-protobuf")
                swift build -c release "${protobuf[@]}" --product protoc-gen-swift >/dev/null
                PROTOC_GEN_SWIFT="$(swift build -c release "${protobuf[@]}" --show-bin-path)/protoc-gen-swift"
            fi
            if [ -z "${PROTOC_GEN_MPIPLUG:-}" ]; then
                echo "building protoc-gen-mpiplug (once, into .build/plugins)" >&2
                mpiplug=(--package-path "$mpiplug_path" --scratch-path "$plugins/mpiplug")
                swift build -c release "${mpiplug[@]}" --product protoc-gen-mpiplug >/dev/null
                PROTOC_GEN_MPIPLUG="$(swift build -c release "${mpiplug[@]}" --show-bin-path)/protoc-gen-mpiplug"
            fi

            committed=Sources/\#(n.module)/Generated
            output="$committed"
            if [ "$check" -eq 1 ]; then
                output=$(mktemp -d)
                trap 'rm -rf "$output"' EXIT
            fi
            mkdir -p "$output"
            output=$(cd "$output" && pwd)
            rm -f "$output"/*.pb.swift "$output"/*.mpiplug.swift
            mapfile -t protos < <(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
            (
                cd proto
                protoc -I . -I "$mpiplug_protos" --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
                    --swift_out="$output" --swift_opt=Visibility=Public,FileNaming=DropPath "${protos[@]}"
                protoc -I . -I "$mpiplug_protos" --plugin=protoc-gen-mpiplug="$PROTOC_GEN_MPIPLUG" \
                    --mpiplug_out="$output" --mpiplug_opt=Visibility=Public "${protos[@]}"
            )
            # Route files land in a subfolder named after the proto's path; flatten them.
            find "$output" -mindepth 2 -name '*.mpiplug.swift' -exec mv {} "$output"/ \;
            find "$output" -mindepth 1 -type d -empty -delete

            if [ "$check" -eq 1 ]; then
                if diff -r "$output" "$committed" >/dev/null; then
                    echo "generated code is up to date"
                else
                    diff -r "$output" "$committed" >&2 || true
                    echo "error: $committed is out of date; run proto/generate" >&2
                    exit 1
                fi
            else
                echo "generated $committed from proto/"
            fi

            """#, isExecutable: true)
    }
}
