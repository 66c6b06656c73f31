# Unit tests of the JWT verifier and the policy engine (common/src/jwt.c, policy_*.c).
mc_unit_test(test_jwt SOURCES test_jwt.c LIBS mc_jwt PkgConfig::LIBCRYPTO)
mc_unit_test(test_policy SOURCES test_policy.c LIBS mc_core)
# test_policy also checks that the shipped config/policies.json loads against config/models.json.
target_compile_definitions(test_policy PRIVATE MC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
