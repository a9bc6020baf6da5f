extension Templates {
    static func gitignore(_ context: TemplateContext) -> TemplateFile {
        TemplateFile(path: ".gitignore", contents: """
            .build/
            .build-*/
            .swiftpm/

            """)
    }
}
