with source as (
    select * from {{ source('content', 'item_dif') }}
),

renamed as (
    select
        run_id,
        item_id,
        grouping as grouping_column,
        reference_group,
        focal_group,
        n_reference,
        n_focal,
        mh_delta,
        mh_p_value,
        ets_class,
        lr_g2,
        lr_df,
        lr_p_value,
        is_mh_flagged,
        is_lr_flagged,
        computed_at
    from source
)

select * from renamed
