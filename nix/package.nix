# The hyperhive Python application.
#
#   callPackage ./package.nix { }                                 # plain
#   callPackage ./package.nix { claudePackage = pkgs.claude-code; } # claude on PATH
#
# claude-code is unfree, so it is never pulled in by default.
{
  lib,
  python3Packages,
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
      !(lib.elem rel [ ".venv" ".cache" ".ci" "bench" "hive" "tests/artifacts" ])
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
in
python3Packages.buildPythonApplication {
  pname = "hyperhive";
  inherit version src;
  pyproject = true;

  build-system = map (req: python3Packages.${requirementName req}) buildRequires;

  dependencies = with python3Packages; [
    bottle
    gevent
    peewee
    sdnotify
    (python3Packages.systemd-python or python3Packages.systemd)
    mcp
  ];

  # The web assets go to share/, are linked next to hyperhive.py in
  # site-packages (where the app looks first) and named by HYPERHIVE_STATIC.
  # The NixOS modules and the agent.nix template ride along in share/ too.
  postInstall = ''
    mkdir -p $out/share/hyperhive
    if [ -d static ]; then
      cp -r static $out/share/hyperhive/static
      ln -s $out/share/hyperhive/static $out/${python.sitePackages}/static
    fi
    if [ -d nix ]; then
      cp -r nix $out/share/hyperhive/nix
    fi
  '';

  makeWrapperArgs =
    [ "--set-default" "HYPERHIVE_STATIC" "${placeholder "out"}/share/hyperhive/static" ]
    ++ lib.optionals (claudePackage != null) [
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
