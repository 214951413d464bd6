"""Claim hooks referenced (as dotted strings) from op_settings."""

from oidc_provider.lib.claims import ScopeClaims


def _groups(user):
    return sorted(user.groups.values_list("name", flat=True))


def userinfo(claims, user):
    # OIDC_USERINFO(claims, user): populate the standard-claims dict.
    claims["email"] = user.email
    claims["email_verified"] = True
    claims["preferred_username"] = user.get_username()
    claims["name"] = user.get_full_name() or user.get_username()
    return claims


def idtoken_hook(id_token, user, token, request, **kwargs):
    # OIDC_IDTOKEN_PROCESSING_HOOK: runs for every id_token (token endpoint, implicit, refresh).
    id_token["email"] = user.email
    id_token["email_verified"] = True
    id_token["preferred_username"] = user.get_username()
    id_token["groups"] = _groups(user)
    return id_token


class GroupsScopeClaims(ScopeClaims):
    info_groups = ("Groups", "Your group memberships.")

    def scope_groups(self):
        return {"groups": _groups(self.user)}
