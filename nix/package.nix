# The hyperhive Python application.
#
#   callPackage ./package.nix { }                                 # plain
#   callPackage ./package.nix { claudePackage = pkgs.claude-code; } # claude on PATH
#
# claude-code is unfree, so it is never pulled in by default. The `hyperhive` console
# script is the program; the web assets (static/, with the chart and terminal
# libraries fetched from npm as nix/vendor.json pins them) are package data in the
# wheel.
{
  lib,
  python3Packages,
  fetchurl,
  claudePackage ? null,
  src ? lib.cleanSourceWith {
    name = "hyperhive-source";
    src = lib.cleanSource ../.;
    filter =
      path: type:
      let
        rel = lib.removePrefix (toString ../. + "/") (toString path);
        base = baseNameOf path;
      in
      !(lib.elem rel [ ".venv" ".cache" ".ci" "bench" "hive" "tests/artifacts" "static/vendor" ])
      && !(lib.elem base [ "__pycache__" ".pytest_cache" ".hypothesis" ])
      && !(lib.hasSuffix ".pyc" base);
  },
}:
let
  root = ../.;

  # Version: `__version__ = "x.y.z"` in hyperhive/__init__.py.
  initFile = root + "/hyperhive/__init__.py";
  versionLine =
    if builtins.pathExists initFile then
      lib.findFirst (lib.hasPrefix "__version__") null (lib.splitString "\n" (builtins.readFile initFile))
    else
      null;
  versionMatch = if versionLine == null then null else builtins.match ''__version__ *= *["']([^"']+)["'].*'' versionLine;
  version = if versionMatch == null then "0.0.0" else builtins.head versionMatch;

  # Build backend as declared in pyproject.toml ([build-system] requires).
  pyprojectFile = root + "/pyproject.toml";
  pyproject = if builtins.pathExists pyprojectFile then builtins.fromTOML (builtins.readFile pyprojectFile) else { };
  requirementName =
    req: lib.toLower (builtins.replaceStrings [ "_" "." ] [ "-" "-" ] (builtins.head (builtins.match "[[:space:]]*([A-Za-z0-9_.-]+).*" req)));
  buildRequires = pyproject.build-system.requires or [ "setuptools" ];

  python = python3Packages.python;

  # uPlot, xterm.js and its fit addon: npm tarballs pinned by nix/vendor.json (./dev
  # fetches the same versions), unpacked into static/vendor before the build.
  vendored = lib.mapAttrsToList (_: v: v // {
    tarball = fetchurl {
      url = "https://registry.npmjs.org/${v.package}/-/${baseNameOf v.package}-${v.version}.tgz";
      inherit (v) hash;
    };
  }) (builtins.fromJSON (builtins.readFile ./vendor.json));
  unpackVendored = lib.concatMapStrings (v: ''
    rm -rf "$TMPDIR/vendored" && mkdir -p "$TMPDIR/vendored"
    tar -xzf ${v.tarball} -C "$TMPDIR/vendored"
    ${lib.concatStrings (lib.mapAttrsToList (src: dest: ''
      cp "$TMPDIR/vendored/package/${src}" static/vendor/${lib.escapeShellArg dest}
    '') v.files)}
  '') vendored;
in
python3Packages.buildPythonApplication {
  pname = "hyperhive";
  inherit version src;
  pyproject = true;

  postPatch = ''
    rm -rf static/vendor
    mkdir -p static/vendor
    ${unpackVendored}
  '';

  build-system = map (req: python3Packages.${requirementName req}) buildRequires;

  dependencies = with python3Packages; [
    bottle
    gevent
    peewee
    orjson
    psycogreen
    psycopg2
    sdnotify
    (python3Packages.systemd-python or python3Packages.systemd)
    mcp
  ];

  # The NixOS modules and the agent.nix template ride along in share/. The pages need
  # the vendored libraries from the wheel (package data hyperhive/static/vendor).
  postInstall = ''
    mkdir -p $out/share/hyperhive
    cp -r nix $out/share/hyperhive/nix
    for file in ${lib.escapeShellArgs (lib.concatMap (v: lib.attrValues v.files) vendored)}; do
      if [ ! -f "$out/${python.sitePackages}/hyperhive/static/vendor/$file" ]; then
        echo "the wheel lacks static/vendor/$file" >&2
        exit 1
      fi
    done
  '';

  makeWrapperArgs = lib.optionals (claudePackage != null) [
    "--prefix" "PATH" ":" "${claudePackage}/bin"
    "--set-default" "HYPERHIVE_CLAUDE" "${claudePackage}/bin/claude"
  ];

  # The test suite runs in the project's CI; the build only checks that the
  # package imports.
  doCheck = false;
  pythonImportsCheck = [ "hyperhive" ];

  meta = {
    description = "A swarm of Claude Code agents on one Linux host, each in its own container";
    mainProgram = "hyperhive";
    platforms = lib.platforms.linux;
  };
}
